"""好经验、好典型、好做法: the office picks passages from submitted summaries and reviews and
publishes them; withdrawn ones are kept but no longer shown to members."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from worlds import bureau

from pingyi import db, highlights, summaries
from pingyi.models import Target


def submit_summary(engine: Engine, round_id: int, member_id: int, name: str, text: str) -> None:
    with db.transaction(engine) as s:
        target = s.exec(
            select(Target).where(Target.round_id == round_id, Target.member_id == member_id)
        ).one()
        summaries.save_summary(
            session=s,
            round_id=round_id,
            target_id=target.id,  # type: ignore[arg-type]
            member_id=member_id,
            achievements=text,
            problems="无",
            causes="",
            submit=True,
        )


def test_submitted_summaries_are_offered_as_passages(engine: Engine) -> None:
    world = bureau(engine)
    submit_summary(engine, world.round_id, world.members["钱干事"], "钱干事", "建立经营户微信群")
    with db.session(engine) as s:
        picks = highlights.candidates(session=s, round_id=world.round_id)
    assert picks == [highlights.Candidate("钱干事 的自我小结", "建立经营户微信群")]


def test_published_passages_are_read_newest_first_and_withdrawn_ones_hidden(
    engine: Engine,
) -> None:
    world = bureau(engine)
    with db.transaction(engine) as s:
        first = highlights.publish(
            actor="测试",
            session=s,
            round_id=world.round_id,
            kind="好做法",
            title="微信群",
            text="建群服务",
        )
        highlights.publish(
            actor="测试",
            session=s,
            round_id=world.round_id,
            kind="好典型",
            title="老党员",
            text="坚持学习",
        )
        highlights.withdraw(actor="测试", session=s, highlight_id=first.id)  # type: ignore[arg-type]
    with db.session(engine) as s:
        assert [h.title for h in highlights.published(session=s)] == ["老党员"]
        assert [h.title for h in highlights.everything(session=s)] == ["老党员", "微信群"]
    with db.transaction(engine) as s:
        highlights.republish(actor="测试", session=s, highlight_id=first.id)  # type: ignore[arg-type]
    with db.session(engine) as s:
        assert len(highlights.published(session=s)) == 2


@pytest.mark.parametrize(
    ("kind", "title", "text", "message"),
    [
        ("好东西", "题", "文", "类别应为"),
        ("好经验", " ", "文", "请填写标题"),
        ("好经验", "题", "", "请填写内容"),
        ("好经验", "题" * 101, "文", "标题不能超过 100 个字"),
    ],
)
def test_bad_passages_are_refused_in_chinese(
    sqlite_engine: Engine, kind: str, title: str, text: str, message: str
) -> None:
    with (
        pytest.raises(highlights.HighlightError, match=message),
        db.transaction(sqlite_engine) as s,
    ):
        highlights.publish(
            actor="测试", session=s, round_id=None, kind=kind, title=title, text=text
        )
