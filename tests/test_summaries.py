"""自我小结 on SQLite and PostgreSQL: who writes which summary, when it may be written, what it
must contain, the 公开承诺 looked back at, and what the next round carries forward.

The world is `worlds.build_bureau`: 王书记 (党组书记), 李副局长 and 张副局长 (班子成员), 赵科长
(secretary of the 机关党支部), 钱干事, 孙老同志; 第一党员1 is secretary of 第一市场党支部.
"""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from worlds import ORGAN_BRANCH, Bureau, bureau

from pingyi import db, rounds, summaries
from pingyi.models import (
    Commitment,
    CommitmentStatus,
    ItemStatus,
    Member,
    RectificationItem,
    Round,
    Step,
    Summary,
    Target,
    TargetKind,
)
from pingyi.summaries import SummaryError

KEPT, IN_PROGRESS, NOT_KEPT = CommitmentStatus
NOT_STARTED = ItemStatus.NOT_STARTED


@pytest.fixture
def world(engine: Engine) -> Bureau:
    return bureau(engine)


def member_target(s: Session, round_id: int, member_id: int) -> Target:
    return s.exec(
        select(Target).where(Target.round_id == round_id, Target.member_id == member_id)
    ).one()


def branch_target(s: Session, round_id: int, name: str = ORGAN_BRANCH) -> Target:
    return s.exec(
        select(Target).where(
            Target.round_id == round_id, Target.kind == TargetKind.BRANCH, Target.name == name
        )
    ).one()


def team_target(s: Session, round_id: int) -> Target:
    return s.exec(
        select(Target).where(Target.round_id == round_id, Target.kind == TargetKind.TEAM)
    ).one()


def save(s: Session, world: Bureau, target: Target, writer: str, **kw: object) -> Summary:
    texts = {"achievements": "完成了年度任务", "problems": "学习不够深入", "causes": "抓得不紧"}
    texts |= {k: v for k, v in kw.items() if k != "submit"}
    return summaries.save_summary(
        session=s,
        round_id=target.round_id,
        target_id=target.id,  # type: ignore[arg-type]
        member_id=world.members[writer],
        submit=bool(kw.get("submit", False)),
        **texts,  # type: ignore[arg-type]
    )


def set_step(engine: Engine, round_id: int, step: Step) -> None:
    with db.transaction(engine) as s:
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, round_id), step=step)  # type: ignore[arg-type]


# ---- who writes


def test_a_member_writes_only_their_own_summary(engine: Engine, world: Bureau) -> None:
    with db.session(engine) as s:
        mine = summaries.targets_for(
            session=s, round_id=world.round_id, member_id=world.members["钱干事"]
        )
    assert [(t.kind, t.name) for t in mine] == [(TargetKind.MEMBER, "钱干事")]


def test_the_branch_secretary_writes_their_own_and_the_branch_summary(
    engine: Engine, world: Bureau
) -> None:
    with db.session(engine) as s:
        mine = summaries.targets_for(
            session=s, round_id=world.round_id, member_id=world.members["赵科长"]
        )
    assert [(t.kind, t.name) for t in mine] == [
        (TargetKind.MEMBER, "赵科长"),
        (TargetKind.BRANCH, ORGAN_BRANCH),
    ]


def test_the_party_secretary_writes_the_team_summary(engine: Engine, world: Bureau) -> None:
    with db.session(engine) as s:
        mine = summaries.targets_for(
            session=s, round_id=world.round_id, member_id=world.members["王书记"]
        )
    assert [t.kind for t in mine] == [TargetKind.MEMBER, TargetKind.TEAM]


def test_targets_for_agrees_with_writer_of_for_every_target(engine: Engine, world: Bureau) -> None:
    with db.session(engine) as s:
        for target in rounds.targets_of(session=s, round_id=world.round_id):
            writer = summaries.writer_of(session=s, target=target)
            assert writer is not None, target.name
            mine = summaries.targets_for(
                session=s,
                round_id=world.round_id,
                member_id=writer.id,  # type: ignore[arg-type]
            )
            assert target.id in [t.id for t in mine], target.name


def test_of_two_branch_secretaries_only_the_first_writes_the_branch_summary(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        second = s.get(Member, world.members["钱干事"])
        second.is_branch_secretary = True  # type: ignore[union-attr]
        s.add(second)
    with db.session(engine) as s:
        mine = summaries.targets_for(
            session=s, round_id=world.round_id, member_id=world.members["钱干事"]
        )
    assert [t.kind for t in mine] == [TargetKind.MEMBER]


def test_only_the_branch_secretary_writes_the_branch_summary(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        branch = branch_target(s, world.round_id)
        with pytest.raises(SummaryError, match="不由您填写"):
            save(s, world, branch, "钱干事")
        assert save(s, world, branch, "赵科长").achievements == "完成了年度任务"


def test_nobody_writes_another_member_s_summary(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        for other in ("王书记", "赵科长", "孙老同志"):
            with pytest.raises(SummaryError, match="「钱干事」的自我小结不由您填写"):
                save(s, world, target, other)


def test_a_target_of_another_round_is_refused(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        with pytest.raises(SummaryError, match="找不到该评议对象"):
            summaries.save_summary(
                session=s,
                round_id=world.round_id + 1,
                target_id=target.id,  # type: ignore[arg-type]
                member_id=world.members["钱干事"],
                achievements="",
                problems="",
                causes="",
                submit=False,
            )


# ---- when


@pytest.mark.parametrize("step", [Step.SELF_SUMMARY, Step.INSPECTION])
def test_summaries_are_written_in_self_summary_and_inspection(
    engine: Engine, world: Bureau, step: Step
) -> None:
    set_step(engine, world.round_id, step)
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        assert save(s, world, target, "钱干事", submit=True).submitted


@pytest.mark.parametrize("step", [Step.BRIEFING, Step.REVIEW, Step.RECTIFICATION, Step.CLOSED])
def test_summaries_are_closed_from_the_briefing_on(
    engine: Engine, world: Bureau, step: Step
) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        save(s, world, target, "钱干事")
    set_step(engine, world.round_id, step)
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        with pytest.raises(SummaryError, match="自我小结阶段已结束"):
            save(s, world, target, "钱干事", achievements="改过了")
        with pytest.raises(SummaryError, match="自我小结阶段已结束"):
            summaries.add_commitment(
                session=s,
                round_id=world.round_id,
                target_id=target.id,  # type: ignore[arg-type]
                member_id=world.members["钱干事"],
                text="带头学习",
            )
    with db.session(engine) as s:
        stored = summaries.summary_of(
            session=s,
            target_id=member_target(s, world.round_id, world.members["钱干事"]).id,  # type: ignore[arg-type]
        )
        assert stored is not None and stored.achievements == "完成了年度任务"


# ---- what


def test_a_draft_may_be_empty_but_submitting_needs_achievements_and_problems(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        draft = save(s, world, target, "钱干事", achievements="", problems="  ", causes="")
        assert not draft.submitted
        with pytest.raises(SummaryError, match="提交前请填写「成绩」和「问题」"):
            save(s, world, target, "钱干事", achievements="", problems="", submit=True)
        with pytest.raises(SummaryError, match="提交前请填写「问题」"):
            save(s, world, target, "钱干事", problems="\n", submit=True)
        submitted = save(s, world, target, "钱干事", causes="", submit=True)
        assert submitted.submitted and submitted.causes == ""


@pytest.mark.parametrize(("field", "label"), list(summaries.SUMMARY_FIELDS.items()))
def test_texts_longer_than_their_columns_are_refused(
    engine: Engine, world: Bureau, field: str, label: str
) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        assert save(s, world, target, "钱干事", **{field: "字" * 3000})
        with pytest.raises(SummaryError, match=f"「{label}」不能超过 3000 个字"):
            save(s, world, target, "钱干事", **{field: "字" * 3001})


def test_saving_again_updates_the_one_summary(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        save(s, world, target, "钱干事", submit=True)
        again = save(s, world, target, "钱干事", achievements="补充了成绩", submit=True)
        assert again.submitted and again.achievements == "补充了成绩"
        # A draft saved after submitting withdraws the submission until it is submitted again.
        assert not save(s, world, target, "钱干事").submitted
    with db.session(engine) as s:
        assert len(s.exec(select(Summary)).all()) == 1


def test_a_summary_inserted_meanwhile_is_updated_not_duplicated(
    engine: Engine, world: Bureau
) -> None:
    """A double tap on PostgreSQL: the second insert meets the first one's row."""
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        first = save(s, world, target, "钱干事")
        again = summaries._insert_summary(
            session=s,
            round_id=world.round_id,
            target_id=target.id,  # type: ignore[arg-type]
        )
        assert again.id == first.id
    with db.session(engine) as s:
        assert len(s.exec(select(Summary)).all()) == 1


# ---- 公开承诺


def add(s: Session, world: Bureau, target: Target, writer: str, text: str, **kw: str) -> Commitment:
    return summaries.add_commitment(
        session=s,
        round_id=target.round_id,
        target_id=target.id,  # type: ignore[arg-type]
        member_id=world.members[writer],
        text=text,
        **kw,  # type: ignore[arg-type]
    )


def test_commitments_are_added_edited_and_deleted_by_the_writer(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        first = add(s, world, target, "钱干事", "每月走访经营户")
        second = add(s, world, target, "钱干事", "带头学习", status=NOT_KEPT)
        assert (first.status, second.status) == (IN_PROGRESS, NOT_KEPT)
        summaries.update_commitment(
            session=s,
            commitment_id=first.id,  # type: ignore[arg-type]
            member_id=world.members["钱干事"],
            text="每月走访经营户两次",
            status=KEPT,
            evidence="走访记录 12 份",
        )
        summaries.delete_commitment(
            session=s,
            commitment_id=second.id,  # type: ignore[arg-type]
            member_id=world.members["钱干事"],
        )
    with db.session(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        stored = summaries.commitments_of(session=s, target_id=target.id)  # type: ignore[arg-type]
    assert [(c.text, c.status, c.evidence) for c in stored] == [
        ("每月走访经营户两次", KEPT, "走访记录 12 份")
    ]


def test_a_kept_commitment_needs_evidence(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        with pytest.raises(SummaryError, match="请填写佐证材料"):
            add(s, world, target, "钱干事", "带头学习", status=KEPT)
        commitment = add(s, world, target, "钱干事", "带头学习")
        with pytest.raises(SummaryError, match="请填写佐证材料"):
            summaries.update_commitment(
                session=s,
                commitment_id=commitment.id,  # type: ignore[arg-type]
                member_id=world.members["钱干事"],
                text="带头学习",
                status=KEPT,
                evidence="   ",
            )


def test_commitment_text_status_and_lengths_are_checked(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        with pytest.raises(SummaryError, match="请填写承诺内容"):
            add(s, world, target, "钱干事", "  ")
        with pytest.raises(SummaryError, match="「承诺内容」不能超过 500 个字"):
            add(s, world, target, "钱干事", "诺" * 501)
        with pytest.raises(SummaryError, match="「佐证材料」不能超过 1000 个字"):
            add(s, world, target, "钱干事", "带头学习", evidence="证" * 1001)
        with pytest.raises(SummaryError, match="兑现情况只能是已兑现、推进中、未兑现"):
            add(s, world, target, "钱干事", "带头学习", status="差不多")


def test_the_same_commitment_twice_is_refused(engine: Engine, world: Bureau) -> None:
    """A double tap on 添加 adds one commitment."""
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        add(s, world, target, "钱干事", "带头学习")
        with pytest.raises(SummaryError, match="已有相同内容的承诺"):
            add(s, world, target, "钱干事", " 带头学习 ")


def test_only_the_writer_touches_the_commitments(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        branch = branch_target(s, world.round_id)
        commitment = add(s, world, branch, "赵科长", "建好党员活动室")
        with pytest.raises(SummaryError, match="不由您填写"):
            add(s, world, branch, "钱干事", "另一项")
        with pytest.raises(SummaryError, match="不由您填写"):
            summaries.update_commitment(
                session=s,
                commitment_id=commitment.id,  # type: ignore[arg-type]
                member_id=world.members["钱干事"],
                text="改掉",
                status=IN_PROGRESS,
                evidence="",
            )
        with pytest.raises(SummaryError, match="不由您填写"):
            summaries.delete_commitment(
                session=s,
                commitment_id=commitment.id,  # type: ignore[arg-type]
                member_id=world.members["钱干事"],
            )
        with pytest.raises(SummaryError, match="找不到该承诺"):
            summaries.update_commitment(
                session=s,
                commitment_id=10_000,
                member_id=world.members["赵科长"],
                text="改掉",
                status=IN_PROGRESS,
                evidence="",
            )


def test_a_double_tap_on_add_stores_one_commitment(engine: Engine, world: Bureau) -> None:
    """Two requests at once: the second waits for the first and sees its commitment."""
    with db.session(engine) as s:
        target_id = member_target(s, world.round_id, world.members["钱干事"]).id
    answers: list[str] = []

    def tap() -> None:
        try:
            with db.transaction(engine) as s:
                summaries.add_commitment(
                    session=s,
                    round_id=world.round_id,
                    target_id=target_id,  # type: ignore[arg-type]
                    member_id=world.members["钱干事"],
                    text="带头学习",
                )
                time.sleep(0.3)  # still uncommitted while the other tap arrives
            answers.append("已添加")
        except SummaryError as exc:
            answers.append(str(exc))

    taps = [threading.Thread(target=tap) for _ in range(2)]
    for thread in taps:
        thread.start()
    for thread in taps:
        thread.join()
    assert sorted(answers) == ["已有相同内容的承诺", "已添加"]
    with db.session(engine) as s:
        assert len(summaries.commitments_of(session=s, target_id=target_id)) == 1  # type: ignore[arg-type]


def test_deleting_a_commitment_twice_is_no_error(engine: Engine, world: Bureau) -> None:
    """A double tap on 删除."""
    with db.transaction(engine) as s:
        target = member_target(s, world.round_id, world.members["钱干事"])
        commitment = add(s, world, target, "钱干事", "带头学习")
        for _ in range(2):
            summaries.delete_commitment(
                session=s,
                commitment_id=commitment.id,  # type: ignore[arg-type]
                member_id=world.members["钱干事"],
            )
        assert summaries.commitments_of(session=s, target_id=target.id) == []  # type: ignore[arg-type]


# ---- the next round looks back


def next_round(engine: Engine, name: str = "2027年第一季度评议") -> int:
    with db.transaction(engine) as s:
        round_ = rounds.create_round(actor="测试", session=s, name=name, quarter="2027Q1")
        rounds.open_round(actor="测试", session=s, round_=round_)
        return round_.id  # type: ignore[return-value]


def test_commitments_not_yet_kept_are_carried_into_the_next_round(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        mine = member_target(s, world.round_id, world.members["钱干事"])
        add(s, world, mine, "钱干事", "每月走访经营户", status=KEPT, evidence="走访记录")
        add(s, world, mine, "钱干事", "带头学习", evidence="读书笔记 3 篇")
        add(s, world, mine, "钱干事", "办好一件实事", status=NOT_KEPT)
        add(s, world, branch_target(s, world.round_id), "赵科长", "建好党员活动室")
        add(s, world, team_target(s, world.round_id), "王书记", "班子成员每季度讲党课")
    set_step(engine, world.round_id, Step.CLOSED)
    new_round = next_round(engine)

    with db.session(engine) as s:

        def carried(target: Target) -> list[tuple[str, str, str]]:
            found = summaries.commitments_of(session=s, target_id=target.id)  # type: ignore[arg-type]
            assert all(c.round_id == new_round for c in found)
            return [(c.text, c.status, c.evidence) for c in found]

        assert carried(member_target(s, new_round, world.members["钱干事"])) == [
            ("带头学习", IN_PROGRESS, "读书笔记 3 篇"),
            ("办好一件实事", NOT_KEPT, ""),
        ]
        assert carried(branch_target(s, new_round)) == [("建好党员活动室", IN_PROGRESS, "")]
        assert carried(team_target(s, new_round)) == [("班子成员每季度讲党课", IN_PROGRESS, "")]
        assert carried(member_target(s, new_round, world.members["孙老同志"])) == []
        # The old round keeps its own.
        old = member_target(s, world.round_id, world.members["钱干事"])
        assert len(summaries.commitments_of(session=s, target_id=old.id)) == 3  # type: ignore[arg-type]


def test_carried_commitments_come_from_the_latest_earlier_round_only(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        add(s, world, member_target(s, world.round_id, world.members["钱干事"]), "钱干事", "旧承诺")
    second = next_round(engine, "第二轮")
    with db.transaction(engine) as s:
        carried = summaries.commitments_of(
            session=s,
            target_id=member_target(s, second, world.members["钱干事"]).id,  # type: ignore[arg-type]
        )
        summaries.update_commitment(
            session=s,
            commitment_id=carried[0].id,  # type: ignore[arg-type]
            member_id=world.members["钱干事"],
            text="旧承诺",
            status=KEPT,
            evidence="已办结",
        )
    third = next_round(engine, "第三轮")
    with db.session(engine) as s:
        target = member_target(s, third, world.members["钱干事"])
        assert summaries.commitments_of(session=s, target_id=target.id) == []  # type: ignore[arg-type]


def item(s: Session, target: Target, text: str, status: ItemStatus, **kw: object) -> None:
    row = RectificationItem(round_id=target.round_id, target_id=target.id, text=text, **kw)  # type: ignore[arg-type]
    row.status = status
    s.add(row)
    s.flush()


def test_open_rectification_items_of_earlier_rounds_are_shown_oldest_first(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        mine = member_target(s, world.round_id, world.members["钱干事"])
        item(s, mine, "加强学习", ItemStatus.IN_PROGRESS, deadline=date(2027, 1, 31))
        item(s, mine, "改进作风", ItemStatus.DONE, evidence="已改进")
        item(s, mine, "走访经营户", ItemStatus.NOT_STARTED)
        other = member_target(s, world.round_id, world.members["孙老同志"])
        item(s, other, "别人的事项", ItemStatus.NOT_STARTED)
    second = next_round(engine, "第二轮")
    with db.transaction(engine) as s:
        item(s, member_target(s, second, world.members["钱干事"]), "本轮的事项", NOT_STARTED)
    third = next_round(engine, "第三轮")
    with db.transaction(engine) as s:
        item(s, member_target(s, third, world.members["钱干事"]), "第三轮的事项", NOT_STARTED)

    with db.session(engine) as s:

        def open_texts(round_id: int) -> list[str]:
            target = member_target(s, round_id, world.members["钱干事"])
            found = summaries.open_items_for(session=s, target_id=target.id)  # type: ignore[arg-type]
            return [i.text for i in found]

        assert open_texts(world.round_id) == []
        assert open_texts(second) == ["加强学习", "走访经营户"]
        assert open_texts(third) == ["加强学习", "走访经营户", "本轮的事项"]


def test_open_items_of_a_branch_follow_the_branch(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        item(s, branch_target(s, world.round_id), "规范三会一课", ItemStatus.NOT_STARTED)
        item(s, team_target(s, world.round_id), "班子的事项", ItemStatus.NOT_STARTED)
    second = next_round(engine)
    with db.session(engine) as s:
        branch = branch_target(s, second)
        team = team_target(s, second)
        assert [i.text for i in summaries.open_items_for(session=s, target_id=branch.id)] == [  # type: ignore[arg-type]
            "规范三会一课"
        ]
        assert [i.text for i in summaries.open_items_for(session=s, target_id=team.id)] == [  # type: ignore[arg-type]
            "班子的事项"
        ]


# ---- who has finished


def test_progress_lists_every_target_with_its_writer_and_state(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        qian = member_target(s, world.round_id, world.members["钱干事"])
        save(s, world, qian, "钱干事", submit=True)
        save(s, world, branch_target(s, world.round_id), "赵科长")
    with db.session(engine) as s:
        lines = summaries.progress(session=s, round_id=world.round_id)
        targets = rounds.targets_of(session=s, round_id=world.round_id)
        writers = [summaries.writer_of(session=s, target=t) for t in targets]
    assert [line.target_id for line in lines] == [t.id for t in targets]
    assert [line.writer_id for line in lines] == [w.id if w else None for w in writers]
    by_name = {line.target: line for line in lines}
    assert by_name["钱干事"].submitted and by_name["钱干事"].writer == "钱干事"
    assert by_name[ORGAN_BRANCH].started and not by_name[ORGAN_BRANCH].submitted
    assert by_name[ORGAN_BRANCH].writer == "赵科长"
    team = next(line for line in lines if line.kind == TargetKind.TEAM)
    assert team.writer == "王书记" and not team.started
    assert sum(line.submitted for line in lines) == 1
