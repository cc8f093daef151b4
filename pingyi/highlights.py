"""好经验、好典型、好做法 (方案 七): passages the office picks from summaries and reviews and
publishes for every logged-in member to read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from pingyi import audit
from pingyi.audit import Action
from pingyi.models import Highlight, Member, Review, Summary, Target

KINDS = ("好经验", "好典型", "好做法")
TITLE_MAX, TEXT_MAX, SOURCE_MAX = 100, 3000, 200


class HighlightError(ValueError):
    """A passage that cannot be published as given; the message is in Chinese."""


@dataclass(frozen=True)
class Candidate:
    """A passage the office may pick: where it comes from, and its text."""

    source: str
    text: str


def candidates(*, session: Session, round_id: int) -> list[Candidate]:
    """The round's submitted summaries (成绩) and reviews (肯定成绩), as passages to pick from."""
    found: list[Candidate] = []
    summaries = session.exec(
        select(Summary, Target)
        .join(Target, col(Target.id) == Summary.target_id)
        .where(Summary.round_id == round_id, col(Summary.submitted))
        .order_by(col(Target.position))
    )
    for summary, target in summaries:
        if summary.achievements.strip():
            found.append(Candidate(f"{target.name} 的自我小结", summary.achievements.strip()))
    reviews = session.exec(
        select(Review, Target, Member)
        .join(Target, col(Target.id) == Review.target_id)
        .join(Member, col(Member.id) == Review.reviewer_id)
        .where(Review.round_id == round_id, col(Review.submitted))
        .order_by(col(Target.position))
    )
    for review, target, reviewer in reviews:
        if review.achievements.strip():
            found.append(
                Candidate(f"{reviewer.name} 对 {target.name} 的点评", review.achievements.strip())
            )
    return found


def publish(
    *,
    session: Session,
    round_id: int | None,
    kind: str,
    title: str,
    text: str,
    source: str = "",
    actor: str,
) -> Highlight:
    title, text, source = title.strip(), text.strip(), source.strip()
    if kind not in KINDS:
        raise HighlightError(f"类别应为{'、'.join(KINDS)}之一")
    if not title:
        raise HighlightError("请填写标题")
    if not text:
        raise HighlightError("请填写内容")
    if len(title) > TITLE_MAX:
        raise HighlightError(f"标题不能超过 {TITLE_MAX} 个字")
    if len(text) > TEXT_MAX:
        raise HighlightError(f"内容不能超过 {TEXT_MAX} 个字")
    if len(source) > SOURCE_MAX:
        raise HighlightError(f"出处不能超过 {SOURCE_MAX} 个字")
    highlight = Highlight(round_id=round_id, kind=kind, title=title, text=text, source=source)
    session.add(highlight)
    session.flush()
    audit.record(session=session, actor=actor, action=Action.PUBLISH_HIGHLIGHT, detail=title)
    return highlight


def withdraw(*, session: Session, highlight_id: int, actor: str) -> Highlight:
    """Take a passage off the page (kept, so it can be published again)."""
    return _set_published(session, highlight_id, False, actor)


def republish(*, session: Session, highlight_id: int, actor: str) -> Highlight:
    return _set_published(session, highlight_id, True, actor)


def _set_published(session: Session, highlight_id: int, published: bool, actor: str) -> Highlight:
    highlight = session.get(Highlight, highlight_id)
    if highlight is None:
        raise HighlightError("找不到该条目")
    highlight.published = published
    session.add(highlight)
    session.flush()
    action = Action.PUBLISH_HIGHLIGHT if published else Action.WITHDRAW_HIGHLIGHT
    audit.record(session=session, actor=actor, action=action, detail=highlight.title)
    return highlight


def published(*, session: Session) -> list[Highlight]:
    """What members read: newest first."""
    query = select(Highlight).where(col(Highlight.published))
    return list(session.exec(query.order_by(col(Highlight.id).desc())))


def everything(*, session: Session) -> list[Highlight]:
    return list(session.exec(select(Highlight).order_by(col(Highlight.id).desc())))
