"""A member's to-do list on the home page follows the round's step."""

from __future__ import annotations

from sqlalchemy import Engine
from worlds import bureau

from pingyi import db, rounds, todos
from pingyi.models import Round, Step


def todo_texts(engine: Engine, round_id: int, member_id: int) -> list[str]:
    with db.session(engine) as s:
        round_ = s.get(Round, round_id)
        return [t.text for t in todos.of_member(session=s, round_=round_, member_id=member_id)]  # type: ignore[arg-type]


def set_step(engine: Engine, round_id: int, step: Step) -> None:
    with db.transaction(engine) as s:
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, round_id), step=step)  # type: ignore[arg-type]


def test_in_self_summary_the_secretary_writes_their_own_and_the_branch_s(engine: Engine) -> None:
    world = bureau(engine)
    assert todo_texts(engine, world.round_id, world.members["赵科长"]) == [
        "提交「赵科长」的自我小结",
        "提交「机关党支部」的自我小结",
    ]
    assert todo_texts(engine, world.round_id, world.members["王书记"])[-1] == (
        "提交「局领导班子」的自我小结"
    )


def test_in_the_review_step_reviewers_see_how_many_reviews_are_left(engine: Engine) -> None:
    world = bureau(engine)
    set_step(engine, world.round_id, Step.REVIEW)
    texts = todo_texts(engine, world.round_id, world.members["王书记"])
    assert len(texts) == 1 and texts[0].endswith("项领导点评未提交")
    assert todo_texts(engine, world.round_id, world.members["钱干事"]) == []
