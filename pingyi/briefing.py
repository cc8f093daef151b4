"""通报情况: the sheet read out at the meeting for one branch (or the 领导班子): its own
自我小结 and 公开承诺, its members' summaries and commitments, the 调研督查 findings, and the
整改 items still open from earlier rounds. `briefing_html` prints it on A4."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from pingyi import inspections, rectification, summaries
from pingyi.models import (
    Commitment,
    CommitmentStatus,
    Inspection,
    Member,
    RectificationItem,
    Round,
    Summary,
    Target,
    TargetKind,
)


class BriefingError(ValueError):
    """No briefing for what was asked; the message is in Chinese."""


@dataclass(frozen=True)
class Part:
    """One target's 自我小结 as the briefing shows it."""

    target_id: int
    name: str
    writer: str  # who writes it; "" when nobody does
    summary: Summary | None
    commitments: tuple[Commitment, ...]
    open_items: tuple[RectificationItem, ...]  # from earlier rounds, not 已完成

    @property
    def submitted(self) -> bool:
        return self.summary is not None and self.summary.submitted

    @property
    def state(self) -> str:
        if self.summary is None:
            return "未填写"
        return "已提交" if self.summary.submitted else "草稿(未提交)"


@dataclass(frozen=True)
class Briefing:
    round_name: str
    kind: TargetKind  # BRANCH or TEAM
    own: Part  # the branch's (or the 领导班子's) own summary
    members: tuple[Part, ...]
    inspections: tuple[Inspection, ...]  # none for the 领导班子
    made_on: date

    @property
    def title(self) -> str:
        return f"{self.own.name}情况通报"

    @property
    def members_label(self) -> str:
        return "班子成员" if self.kind == TargetKind.TEAM else "党员"

    def submitted_count(self) -> int:
        return sum(part.submitted for part in self.members)

    def commitment_counts(self) -> dict[CommitmentStatus, int]:
        """Commitments of the branch and its members, by status, in the scale's order."""
        counts = Counter(
            CommitmentStatus(c.status)
            for part in (self.own, *self.members)
            for c in part.commitments
        )
        return {status: counts[status] for status in CommitmentStatus}


def _part(session: Session, target: Target) -> Part:
    writer = summaries.writer_of(session=session, target=target)
    target_id: int = target.id
    return Part(
        target_id=target_id,
        name=target.name,
        writer=writer.name if writer else "",
        summary=summaries.summary_of(session=session, target_id=target_id),
        commitments=tuple(summaries.commitments_of(session=session, target_id=target_id)),
        open_items=tuple(summaries.open_items_for(session=session, target_id=target_id)),
    )


def _round_target(session: Session, round_id: int, target_id: int) -> tuple[Round, Target]:
    round_ = session.get(Round, round_id)
    target = session.get(Target, target_id)
    if round_ is None or target is None or target.round_id != round_id:
        raise BriefingError("本轮评议中找不到该评议对象")
    return round_, target


def _member_targets(session: Session, round_id: int) -> Iterable[tuple[Target, Member]]:
    query = (
        select(Target, Member)
        .join(Member, col(Member.id) == col(Target.member_id))
        .where(Target.round_id == round_id, Target.kind == TargetKind.MEMBER)
        .order_by(col(Target.position))
    )
    return session.exec(query)


def _briefing(
    session: Session, round_: Round, target: Target, members: Sequence[Target], today: date | None
) -> Briefing:
    return Briefing(
        round_name=round_.name,
        kind=TargetKind(target.kind),
        own=_part(session, target),
        members=tuple(_part(session, member) for member in members),
        inspections=tuple(inspections.for_branch(session=session, target_id=target.id))
        if target.kind == TargetKind.BRANCH
        else (),
        made_on=today or date.today(),
    )


def branch_briefing(
    *, session: Session, round_id: int, target_id: int, today: date | None = None
) -> Briefing:
    """The briefing of a branch of the round; its members are the round's member targets
    in that branch (as the roster stood when the round opened)."""
    round_, target = _round_target(session, round_id, target_id)
    if target.kind != TargetKind.BRANCH:
        raise BriefingError(f"「{target.name}」不是党支部")
    members = [
        t
        for t, _ in _member_targets(session, round_id)
        if t.branch_id is not None and t.branch_id == target.branch_id
    ]
    return _briefing(session, round_, target, members, today)


def team_briefing(*, session: Session, round_id: int, today: date | None = None) -> Briefing:
    """The 领导班子's briefing: its own summary and those of the 党组书记 and 班子成员."""
    round_ = session.get(Round, round_id)
    team = session.exec(
        select(Target).where(Target.round_id == round_id, Target.kind == TargetKind.TEAM)
    ).first()
    if round_ is None or team is None:
        raise BriefingError("本轮评议没有领导班子这一评议对象")
    members = [
        t
        for t, member in _member_targets(session, round_id)
        if member.is_party_secretary or member.is_leadership
    ]
    return _briefing(session, round_, team, members, today)


def briefing_for(
    *, session: Session, round_id: int, target_id: int, today: date | None = None
) -> Briefing:
    """A branch's or the 领导班子's briefing, whichever the target is."""
    _, target = _round_target(session, round_id, target_id)
    if target.kind == TargetKind.TEAM:
        return team_briefing(session=session, round_id=round_id, today=today)
    return branch_briefing(session=session, round_id=round_id, target_id=target_id, today=today)


# ---- the printed sheet. Every text comes from people: each goes through _e.

CHINESE_NUMBERS = "一二三四五六七八九十"

_STYLE = """
@page { size: A4; margin: 18mm 16mm 16mm 16mm; }
* { box-sizing: border-box; }
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", "Source Han Serif SC", serif;
       font-size: 11pt; line-height: 1.6; color: #000; margin: 0 auto; max-width: 178mm; }
h1 { font-size: 18pt; text-align: center; margin: 0 0 2mm; letter-spacing: 1pt; }
h2 { font-size: 13pt; margin: 6mm 0 2mm; border-bottom: 1px solid #000; }
h3 { font-size: 11.5pt; margin: 4mm 0 1mm; }
h4 { font-size: 11pt; margin: 2mm 0 0; }
p { margin: 0 0 2mm; }
.meta { text-align: center; color: #333; margin-bottom: 4mm; }
.muted { color: #666; }
.overview { border: 1px solid #000; padding: 2mm 3mm; margin: 3mm 0; }
table { width: 100%; border-collapse: collapse; margin: 1mm 0 3mm; }
th, td { border: 1px solid #000; padding: 1mm 2mm; vertical-align: top; text-align: left; }
th { background: #eee; }
td.nowrap, th.nowrap { white-space: nowrap; width: 1%; }
article { page-break-inside: avoid; break-inside: avoid; border-top: 1px dashed #999;
          padding-top: 1mm; }
tr { page-break-inside: avoid; break-inside: avoid; }
@media print { th { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def _e(text: object) -> str:
    """Escaped for HTML; line breaks kept."""
    return html.escape(str(text)).replace("\r\n", "\n").replace("\n", "<br>")


def _text_or_blank(text: str) -> str:
    return _e(text) if text.strip() else '<span class="muted">(未填写)</span>'


def _summary_html(part: Part, heading: str, *, with_writer: bool) -> str:
    """The summary's three parts; one line only when there is none, so a branch of many
    members who have not written yet still prints on few pages."""
    state = f"状态:{_e(part.state)}"
    if with_writer:
        state = f"填写人:{_e(part.writer) if part.writer else '(无)'};{state}"
    lines = [f"<p class='muted'>{state}</p>"]
    if part.summary is not None:
        for field, label in summaries.SUMMARY_FIELDS.items():
            text = getattr(part.summary, field)
            lines.append(f"<{heading}>{_e(label)}</{heading}><p>{_text_or_blank(text)}</p>")
    return "\n".join(lines)


def _commitments_html(commitments: Sequence[Commitment]) -> str:
    if not commitments:
        return '<p class="muted">无公开承诺。</p>'
    rows = "".join(
        f"<tr><td class='nowrap'>{n}</td><td>{_e(c.text)}</td>"
        f"<td class='nowrap'>{_e(c.status)}</td><td>{_e(c.evidence)}</td></tr>"
        for n, c in enumerate(commitments, start=1)
    )
    return (
        "<table><thead><tr><th class='nowrap'>序号</th><th>承诺内容</th>"
        "<th class='nowrap'>兑现情况</th><th>佐证材料</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _items_html(items: Sequence[RectificationItem], today: date) -> str:
    if not items:
        return '<p class="muted">无未完成的整改事项。</p>'
    rows = "".join(
        f"<tr><td>{_e(item.text)}</td>"
        f"<td class='nowrap'>{_e(item.deadline.isoformat() if item.deadline else '未定')}</td>"
        f"<td class='nowrap'>{_e(rectification.status(item, today))}</td>"
        f"<td>{_e(item.evidence)}</td></tr>"
        for item in items
    )
    return (
        "<table><thead><tr><th>整改事项</th><th class='nowrap'>期限</th>"
        f"<th class='nowrap'>状态</th><th>进展</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _inspections_html(found: Sequence[Inspection]) -> str:
    if not found:
        return '<p class="muted">暂无调研督查记录。</p>'
    rows = "".join(
        f"<tr><td class='nowrap'>{_e(i.visited_on.isoformat())}</td>"
        f"<td class='nowrap'>{_e(i.inspector)}</td><td>{_e(i.checked)}</td>"
        f"<td>{_e(i.findings)}</td></tr>"
        for i in found
    )
    return (
        "<table><thead><tr><th class='nowrap'>日期</th><th class='nowrap'>调研人</th>"
        f"<th>调研督查内容</th><th>发现的情况</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def overview(briefing: Briefing) -> str:
    """One line of counts for the top of the sheet (and the page)."""
    counts = "、".join(f"{status} {n} 项" for status, n in briefing.commitment_counts().items())
    return (
        f"{briefing.members_label} {len(briefing.members)} 人,"
        f"已提交自我小结 {briefing.submitted_count()} 人;公开承诺:{counts}。"
    )


def _member_html(part: Part, today: date) -> str:
    body = [f"<article><h3>{_e(part.name)}</h3>", _summary_html(part, "h4", with_writer=False)]
    body.append("<h4>公开承诺</h4>" + _commitments_html(part.commitments))
    if part.open_items:
        body.append("<h4>往期未完成的整改事项</h4>" + _items_html(part.open_items, today))
    body.append("</article>")
    return "\n".join(body)


def briefing_html(briefing: Briefing) -> str:
    """A self-contained A4 page to print for the meeting."""
    today = briefing.made_on
    own = "支部" if briefing.kind == TargetKind.BRANCH else "班子"
    sections = [
        (f"{own}自我小结", _summary_html(briefing.own, "h3", with_writer=True)),
        (f"{own}公开承诺兑现情况", _commitments_html(briefing.own.commitments)),
    ]
    if briefing.kind == TargetKind.BRANCH:
        sections.append(("调研督查情况", _inspections_html(briefing.inspections)))
    sections.append(("往期未完成的整改事项", _items_html(briefing.own.open_items, today)))
    members = "\n".join(_member_html(part, today) for part in briefing.members)
    sections.append(
        (
            f"{briefing.members_label}自我小结及承诺兑现情况",
            members or f'<p class="muted">无{briefing.members_label}。</p>',
        )
    )
    body = "\n".join(
        f"<section><h2>{CHINESE_NUMBERS[n]}、{_e(title)}</h2>\n{content}</section>"
        for n, (title, content) in enumerate(sections)
    )
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{_e(briefing.title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{_e(briefing.title)}</h1>
<p class="meta">{_e(briefing.round_name)} · 通报情况 · {_e(today.isoformat())}</p>
<p class="overview">{_e(overview(briefing))}</p>
{body}
</body>
</html>
"""
