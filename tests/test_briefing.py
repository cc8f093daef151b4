"""通报情况 on SQLite and PostgreSQL: the briefing of a branch gathers its summary, its members'
summaries and commitments, the 调研督查 findings and the 整改 items still open; the printed
sheet shows them with every text escaped.

The world is `worlds.build_bureau`: the 机关党支部 (王书记, 李副局长, 张副局长, 赵科长 its
secretary, 钱干事, 孙老同志) and two grassroots branches.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from worlds import GRASSROOTS_BRANCHES, ORGAN_BRANCH, Bureau, bureau

from pingyi import briefing, db, inspections, rounds, summaries
from pingyi.briefing import BriefingError
from pingyi.models import (
    CommitmentStatus,
    ItemStatus,
    RectificationItem,
    Step,
    Target,
    TargetKind,
)

TODAY = date(2026, 11, 20)
ORGAN_MEMBERS = ["王书记", "李副局长", "张副局长", "赵科长", "钱干事", "孙老同志"]


@pytest.fixture
def world(engine: Engine) -> Bureau:
    return bureau(engine)


def target(s: Session, round_id: int, name: str) -> Target:
    return s.exec(select(Target).where(Target.round_id == round_id, Target.name == name)).one()


def write(s: Session, world: Bureau, name: str, writer: str, *, submit: bool = True) -> None:
    summaries.save_summary(
        session=s,
        round_id=world.round_id,
        target_id=target(s, world.round_id, name).id,  # type: ignore[arg-type]
        member_id=world.members[writer],
        achievements=f"{name}的成绩",
        problems=f"{name}的问题",
        causes=f"{name}的原因",
        submit=submit,
    )


def promise(s: Session, world: Bureau, name: str, writer: str, text: str, **kw: str) -> None:
    summaries.add_commitment(
        session=s,
        round_id=world.round_id,
        target_id=target(s, world.round_id, name).id,  # type: ignore[arg-type]
        member_id=world.members[writer],
        text=text,
        **kw,  # type: ignore[arg-type]
    )


def organ_briefing(engine: Engine, round_id: int) -> briefing.Briefing:
    with db.session(engine) as s:
        return briefing.branch_briefing(
            session=s,
            round_id=round_id,
            target_id=target(s, round_id, ORGAN_BRANCH).id,  # type: ignore[arg-type]
            today=TODAY,
        )


def test_a_branch_briefing_gathers_its_summary_members_commitments_and_findings(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        write(s, world, ORGAN_BRANCH, "赵科长")
        promise(
            s, world, ORGAN_BRANCH, "赵科长", "建好党员活动室", status="已兑现", evidence="照片"
        )
        write(s, world, "钱干事", "钱干事")
        write(s, world, "孙老同志", "孙老同志", submit=False)
        promise(s, world, "钱干事", "钱干事", "每月走访经营户", status="未兑现")
        inspections.record(
            session=s,
            round_id=world.round_id,
            target_id=target(s, world.round_id, ORGAN_BRANCH).id,  # type: ignore[arg-type]
            inspector="李副局长",
            visited_on=date(2026, 11, 12),
            checked="三会一课记录",
            findings="记录齐全",
            today=TODAY,
        )
    sheet = organ_briefing(engine, world.round_id)

    assert sheet.title == "机关党支部情况通报"
    assert sheet.own.writer == "赵科长" and sheet.own.submitted
    assert sheet.own.summary is not None and sheet.own.summary.achievements == "机关党支部的成绩"
    assert [c.text for c in sheet.own.commitments] == ["建好党员活动室"]
    assert [part.name for part in sheet.members] == ORGAN_MEMBERS
    states = {part.name: part.state for part in sheet.members}
    assert states["钱干事"] == "已提交"
    assert states["孙老同志"] == "草稿(未提交)"
    assert states["王书记"] == "未填写"
    qian = next(part for part in sheet.members if part.name == "钱干事")
    assert [(c.text, c.status) for c in qian.commitments] == [("每月走访经营户", "未兑现")]
    assert [(i.inspector, i.findings) for i in sheet.inspections] == [("李副局长", "记录齐全")]
    assert sheet.submitted_count() == 1
    assert sheet.commitment_counts() == {
        CommitmentStatus.KEPT: 1,
        CommitmentStatus.IN_PROGRESS: 0,
        CommitmentStatus.NOT_KEPT: 1,
    }
    assert briefing.overview(sheet) == (
        "党员 6 人,已提交自我小结 1 人;公开承诺:已兑现 1 项、推进中 0 项、未兑现 1 项。"
    )


def test_a_grassroots_branch_briefing_lists_only_its_own_members(
    engine: Engine, world: Bureau
) -> None:
    first = GRASSROOTS_BRANCHES[0]
    with db.session(engine) as s:
        sheet = briefing.branch_briefing(
            session=s,
            round_id=world.round_id,
            target_id=target(s, world.round_id, first).id,  # type: ignore[arg-type]
        )
    assert [part.name for part in sheet.members] == [f"第一党员{n}" for n in range(1, 5)]
    assert sheet.own.writer == "第一党员1"
    assert sheet.inspections == ()


def test_the_team_briefing_lists_the_party_secretary_and_the_leadership(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        write(s, world, "局领导班子", "王书记")
    with db.session(engine) as s:
        sheet = briefing.team_briefing(session=s, round_id=world.round_id)
        team_id = target(s, world.round_id, "局领导班子").id
        same = briefing.briefing_for(session=s, round_id=world.round_id, target_id=team_id)  # type: ignore[arg-type]
    assert sheet.kind == TargetKind.TEAM and same.own.target_id == team_id
    assert sheet.own.writer == "王书记" and sheet.own.submitted
    assert [part.name for part in sheet.members] == ["王书记", "李副局长", "张副局长"]
    page = briefing.briefing_html(sheet)
    assert "班子自我小结" in page and "调研督查情况" not in page
    assert "班子成员自我小结及承诺兑现情况" in page


def test_only_a_branch_of_the_round_has_a_branch_briefing(engine: Engine, world: Bureau) -> None:
    with db.session(engine) as s:
        member = target(s, world.round_id, "钱干事")
        with pytest.raises(BriefingError, match="「钱干事」不是党支部"):
            briefing.branch_briefing(session=s, round_id=world.round_id, target_id=member.id)  # type: ignore[arg-type]
        with pytest.raises(BriefingError, match="本轮评议中找不到该评议对象"):
            briefing.branch_briefing(session=s, round_id=world.round_id + 1, target_id=member.id)  # type: ignore[arg-type]


def test_open_items_of_earlier_rounds_appear_on_the_briefing(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        for name, text in ((ORGAN_BRANCH, "规范三会一课"), ("钱干事", "加强学习")):
            s.add(
                RectificationItem(
                    round_id=world.round_id,
                    target_id=target(s, world.round_id, name).id,  # type: ignore[arg-type]
                    text=text,
                    deadline=date(2026, 12, 31),
                    status=ItemStatus.IN_PROGRESS,
                )
            )
        rounds.set_step(actor="测试", session=s, round_=rounds.current(session=s), step=Step.CLOSED)  # type: ignore[arg-type]
        new = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=new)
        new_id: int = new.id  # type: ignore[assignment]
    sheet = organ_briefing(engine, new_id)
    assert [i.text for i in sheet.own.open_items] == ["规范三会一课"]
    qian = next(part for part in sheet.members if part.name == "钱干事")
    assert [i.text for i in qian.open_items] == ["加强学习"]
    page = briefing.briefing_html(sheet)
    assert "规范三会一课" in page and "加强学习" in page
    # Shown as 逾期 once its deadline has passed; the stored status stays 进行中.
    later = briefing.briefing_html(
        briefing.Briefing(**{**sheet.__dict__, "made_on": date(2027, 1, 5)})
    )
    assert "逾期" in later and "逾期" not in page


def test_the_printed_sheet_escapes_every_text_people_typed(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        qian = target(s, world.round_id, "钱干事")
        qian.name = "<script>alert('名字')</script>"  # as if the roster had it
        s.add(qian)
        s.flush()
        summaries.save_summary(
            session=s,
            round_id=world.round_id,
            target_id=qian.id,  # type: ignore[arg-type]
            member_id=world.members["钱干事"],
            achievements="<b>粗体</b> & 第一行\n第二行",
            problems="<img src=x onerror=alert(1)>",
            causes="",
            submit=True,
        )
        summaries.add_commitment(
            session=s,
            round_id=world.round_id,
            target_id=qian.id,  # type: ignore[arg-type]
            member_id=world.members["钱干事"],
            text="<a href='javascript:x'>承诺</a>",
        )
        inspections.record(
            session=s,
            round_id=world.round_id,
            target_id=target(s, world.round_id, ORGAN_BRANCH).id,  # type: ignore[arg-type]
            inspector="<i>李</i>",
            visited_on=date(2026, 11, 12),
            checked="<table>",
            findings="</body>",
            today=TODAY,
        )
    page = briefing.briefing_html(organ_briefing(engine, world.round_id))

    for raw in ("<script>", "<b>", "<img", "<a href", "<i>", "</body></td>"):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(&#39;名字&#39;)&lt;/script&gt;" in page
    assert "&lt;b&gt;粗体&lt;/b&gt; &amp; 第一行<br>第二行" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/body&gt;" in page
    assert page.count("<table>") == page.count("</table>")


def test_the_printed_sheet_is_a_complete_a4_page(engine: Engine, world: Bureau) -> None:
    page = briefing.briefing_html(organ_briefing(engine, world.round_id))
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page and '<meta charset="utf-8">' in page
    assert "size: A4" in page
    assert "<h1>机关党支部情况通报</h1>" in page
    assert "2026年第四季度评议 · 通报情况 · 2026-11-20" in page
    for heading in ("一、支部自我小结", "二、支部公开承诺兑现情况", "三、调研督查情况"):
        assert heading in page
    assert "四、往期未完成的整改事项" in page and "五、党员自我小结及承诺兑现情况" in page
    assert "暂无调研督查记录。" in page and "填写人:赵科长;状态:未填写" in page
    assert "http" not in page, "self-contained: nothing fetched when printing"
