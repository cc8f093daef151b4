"""开箱计票: casting drops sealed ballots into the group's box; closing the group's evaluation
counts the box once, shuffled, and its codes are refused from then on. On both backends:
exactly once under a close racing a burst of casts, and a process killed during the count
leaves the box or the counted ballots, never both and never neither.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import Counter
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from worlds import bureau, count, full_answers, issue, tally_problems

from pingyi import audit, ballots, box, cli, codes, db, evaluation, rounds, tally
from pingyi.models import (
    Ballot,
    BallotBox,
    EvaluationCode,
    GroupKey,
    MassComment,
    Rating,
    Round,
    Step,
)


def rows(bind: Engine, table: type) -> int:
    with db.session(bind) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def used_codes(bind: Engine, group_id: int) -> int:
    with db.session(bind) as s:
        query = select(func.count()).where(
            EvaluationCode.group_id == group_id,  # type: ignore[arg-type]
            EvaluationCode.used.is_(True),  # type: ignore[attr-defined]
        )
        return int(s.scalar(query) or 0)


def vendors(engine: Engine, codes_wanted: int = 12) -> tuple[int, int, list[str]]:
    world = bureau(engine)
    group_id = world.groups[GroupKey.VENDORS]
    return world.round_id, group_id, issue(engine, world.round_id, group_id, codes_wanted)


def test_a_cast_ballot_waits_sealed_and_is_counted_once_when_the_group_is_closed(
    engine: Engine,
) -> None:
    round_id, group_id, plain = vendors(engine)
    sent = []
    for index, code in enumerate(plain[:7]):
        answers = full_answers(engine, round_id, group_id, level=index % 3, vary=index != 0)
        target = next(iter(answers))[0]
        ballots.submit_with_retry(engine, code, answers, {target: f"意见{index}"})
        sent.append(answers)

    # Cast: the codes are used, the box holds seven blobs, nothing is readable or counted.
    assert used_codes(engine, group_id) == 7
    assert rows(engine, BallotBox) == 7
    assert (rows(engine, Ballot), rows(engine, Rating), rows(engine, MassComment)) == (0, 0, 0)
    with db.session(engine) as s:
        assert tally.participation(session=s, round_id=round_id) == {}
        assert tally.stored(session=s, round_id=round_id) == {}
        (state,) = evaluation.status(session=s, round_id=round_id)
    assert (state.cast, state.in_box, state.counted, state.label) == (7, 7, False, "评议中")

    done = evaluation.close(engine, round_id=round_id, group_id=group_id, actor="办公室")
    assert (done.ballots, done.uniform, done.already, done.sealed) == (7, 1, False, True)
    assert rows(engine, BallotBox) == 0
    assert rows(engine, Ballot) == 7
    with db.session(engine) as s:
        stored = Counter(
            frozenset(
                (t, c, lvl)
                for t, c, lvl in s.execute(
                    select(Rating.target_id, Rating.criterion_id, Rating.level_id).where(
                        Rating.ballot_id == ballot_id  # type: ignore[arg-type]
                    )
                )
            )
            for ballot_id in s.scalars(select(Ballot.id))
        )
        comments = sorted(s.scalars(select(MassComment.text)))
        assert tally.participation(session=s, round_id=round_id) == {group_id: (7, 1)}
        assert tally.verify(session=s, round_id=round_id) == []
        (state,) = evaluation.status(session=s, round_id=round_id)
        logged = audit.events(session=s, action="开箱计票")
    assert stored == Counter(frozenset((t, c, lvl) for (t, c), lvl in a.items()) for a in sent)
    assert comments == [f"意见{i}" for i in range(7)]
    assert (state.counted, state.sealed, state.ballots, state.label) == (
        True,
        True,
        7,
        "已开箱计票",
    )
    assert [(e.actor, e.detail.endswith("市场经营户:7 票(一刀切 1 票)")) for e in logged] == [
        ("办公室", True)
    ]

    # Closed: a second close does nothing; the group's codes and new codes are refused.
    again = evaluation.close(engine, round_id=round_id, group_id=group_id)
    assert (again.already, again.ballots) == (True, 7)
    assert rows(engine, Ballot) == 7
    with pytest.raises(ballots.CodeRefused, match="已开箱计票") as refused:
        ballots.submit_with_retry(engine, plain[8], full_answers(engine, round_id, group_id))
    assert refused.value.state is codes.CodeState.CLOSED
    with db.transaction(engine) as s:
        with pytest.raises(ballots.CodeRefused, match="已开箱计票"):
            ballots.open_code(session=s, code=plain[9])
        assert codes.lookup(session=s, code=plain[9]).state is codes.CodeState.CLOSED
        with pytest.raises(codes.CodeError, match="已开箱计票"):
            codes.issue(actor="测试", session=s, round_id=round_id, group_id=group_id, count=1)
    assert used_codes(engine, group_id) == 7


def test_the_device_sending_again_after_the_count_is_told_its_ballot_is_in(
    engine: Engine,
) -> None:
    round_id, group_id, plain = vendors(engine, 3)
    answers = full_answers(engine, round_id, group_id)
    token = "ab" * 16
    ballots.submit_with_retry(engine, plain[0], answers, receipt=token)
    evaluation.close(engine, round_id=round_id, group_id=group_id)
    again = ballots.submit_with_retry(engine, plain[0], answers, receipt=token)
    assert again.again
    with pytest.raises(ballots.AlreadyUsed):
        ballots.submit_with_retry(engine, plain[0], answers, receipt="cd" * 16)
    assert rows(engine, Ballot) == 1


def test_every_blob_of_a_group_has_the_same_size_whatever_its_comments(engine: Engine) -> None:
    round_id, group_id, plain = vendors(engine, 4)
    answers = full_answers(engine, round_id, group_id)
    targets = sorted({t for t, _ in answers})
    ballots.submit_with_retry(engine, plain[0], answers)
    ballots.submit_with_retry(engine, plain[1], answers, {targets[0]: "好"})
    ballots.submit_with_retry(engine, plain[2], answers, dict.fromkeys(targets, "意见" * 100))
    ballots.submit_with_retry(engine, plain[3], answers, {targets[1]: "😀" * 200})
    with db.session(engine) as s:
        sizes = set(s.scalars(select(func.length(BallotBox.sealed))))
    assert len(sizes) == 1
    assert sizes.pop() == box.NONCE_BYTES + 16 + box.plain_size(len(answers), len(targets))


def test_comments_together_have_a_ceiling_and_every_blob_stays_the_same_size(
    engine: Engine,
) -> None:
    world = bureau(engine, grassroots=(8, 8))  # 16 vendors' cards: more than 10 × 200 characters
    round_id, group_id = world.round_id, world.groups[GroupKey.VENDORS]
    plain = issue(engine, round_id, group_id, 3)
    answers = full_answers(engine, round_id, group_id)
    targets = sorted({t for t, _ in answers})
    assert box.comment_budget(len(targets)) == box.COMMENT_TOTAL_MAX == 2000
    too_much = dict.fromkeys(targets[:11], "很" * 200)
    with pytest.raises(
        ballots.BallotError, match=re.escape("意见建议合计超过 2000 字(现 2200 字)")
    ):
        ballots.submit_with_retry(engine, plain[0], answers, too_much)
    assert used_codes(engine, group_id) == 0 and rows(engine, BallotBox) == 0

    ballots.submit_with_retry(engine, plain[0], answers, dict.fromkeys(targets[:10], "很" * 200))
    ballots.submit_with_retry(engine, plain[1], answers, {targets[15]: "好"})
    ballots.submit_with_retry(engine, plain[2], answers)
    with db.session(engine) as s:
        sizes = set(s.scalars(select(func.length(BallotBox.sealed))))
    assert len(sizes) == 1
    evaluation.close(engine, round_id=round_id, group_id=group_id)
    with db.session(engine) as s:
        assert sorted(s.scalars(select(func.length(MassComment.text)))) == [1] + [200] * 10


def test_a_box_sealed_with_another_key_is_not_opened_and_nothing_changes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id, group_id, plain = vendors(engine, 2)
    ballots.submit_with_retry(engine, plain[0], full_answers(engine, round_id, group_id))
    other = box.key_of(b"another-secret")
    monkeypatch.setattr(box, "_box_cipher", lambda: box.AESGCM(other))
    with pytest.raises(box.BoxError, match="PINGYI_SECRET_KEY"):
        evaluation.close(engine, round_id=round_id, group_id=group_id)
    assert (rows(engine, BallotBox), rows(engine, Ballot)) == (1, 0)
    with db.session(engine) as s:
        (state,) = evaluation.status(session=s, round_id=round_id)
    assert not state.counted


def test_ballots_stored_as_rows_by_an_older_release_are_counted_with_the_box(
    engine: Engine,
) -> None:
    round_id, group_id, plain = vendors(engine, 3)
    answers = full_answers(engine, round_id, group_id, level=1, vary=False)
    (target, criterion), level = next(iter(answers.items()))
    with db.transaction(engine) as s:  # as release 0003 stored a ballot: rows, tallies
        s.add(Ballot(id="0" * 32, round_id=round_id, group_id=group_id, uniform=True))
        s.flush()
        for (t, c), lvl in answers.items():
            s.add(
                Rating(
                    ballot_id="0" * 32,
                    target_id=t,
                    criterion_id=c,
                    level_id=lvl,
                    round_id=round_id,
                    group_id=group_id,
                )
            )
        s.add(
            MassComment(
                id="1" * 32, round_id=round_id, group_id=group_id, target_id=target, text="旧意见"
            )
        )
        s.flush()
        tally.rebuild(session=s, round_id=round_id)
    ballots.submit_with_retry(engine, plain[0], full_answers(engine, round_id, group_id))
    done = evaluation.close(engine, round_id=round_id, group_id=group_id)
    assert (done.ballots, done.uniform) == (2, 1)
    with db.session(engine) as s:
        ids = set(s.scalars(select(Ballot.id)))
        assert "0" * 32 not in ids and len(ids) == 2  # written again, under a new id
        assert list(s.scalars(select(MassComment.text))) == ["旧意见"]
        assert list(s.scalars(select(MassComment.id))) != ["1" * 32]
        assert tally.verify(session=s, round_id=round_id) == []
        assert tally.participation(session=s, round_id=round_id) == {group_id: (2, 1)}
        level_of = {
            lvl: n
            for (g, t, c, lvl, _u), n in tally.stored(session=s, round_id=round_id).items()
            if (g, t, c) == (group_id, target, criterion)
        }
    assert level_of[level] >= 1 and sum(level_of.values()) == 2


def test_the_round_is_not_ended_while_a_box_waits_to_be_counted(engine: Engine) -> None:
    round_id, group_id, plain = vendors(engine, 2)
    ballots.submit_with_retry(engine, plain[0], full_answers(engine, round_id, group_id))
    with db.transaction(engine) as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        with pytest.raises(rounds.RoundError, match="市场经营户 1 票"):
            rounds.set_step(actor="测试", session=s, round_=round_, step=Step.CLOSED)
    count(engine, round_id)
    with db.transaction(engine) as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        rounds.set_step(actor="测试", session=s, round_=round_, step=Step.CLOSED)


# ---- a close racing casts


def test_a_close_during_a_burst_counts_each_cast_ballot_once_and_refuses_the_rest(
    engine: Engine,
) -> None:
    round_id, group_id, plain = vendors(engine, 40)
    answers = full_answers(engine, round_id, group_id)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(9)

    def tablet(mine: list[str]) -> None:
        start.wait()
        for code in mine:
            try:
                ballots.submit_with_retry(engine, code, answers)
                result = "cast"
            except ballots.CodeRefused as exc:
                assert exc.state is codes.CodeState.CLOSED, exc
                result = "refused"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=tablet, args=(plain[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    start.wait()
    while len(outcomes) < 10:  # closed in the middle of the burst, not before it
        time.sleep(0.001)
    done = evaluation.close(engine, round_id=round_id, group_id=group_id)
    for thread in threads:
        thread.join()

    cast = outcomes.count("cast")
    assert len(outcomes) == 40 and cast >= 10
    assert done.ballots == cast == used_codes(engine, group_id)
    assert rows(engine, Ballot) == cast and rows(engine, BallotBox) == 0
    assert tally_problems(engine) == []


# ---- a process killed during the count


def _close_and_die(url: str, round_id: int, group_id: int, where: str) -> None:
    """Counts the box and is SIGKILLed at `where`: after the ballots are written but before the
    commit ("count"), or after the commit, while sealing ("seal")."""
    os.environ["PINGYI_SECRET_KEY"] = "test-secret-key"
    engine = db.make_engine(url)

    def die(*_args: Any, **_kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "count":
        real = tally.count_group

        def count_then_die(conn: Any, **kwargs: Any) -> None:
            real(conn, **kwargs)
            die()

        evaluation.tally.count_group = count_then_die  # type: ignore[assignment]
    else:
        evaluation._seal_sqlite = die  # type: ignore[assignment]
        evaluation._seal_postgresql = die  # type: ignore[assignment]
    evaluation.close(engine, round_id=round_id, group_id=group_id)


@pytest.mark.parametrize("where", ["count", "seal"])
def test_a_process_killed_during_the_count_leaves_the_box_or_the_counted_ballots(
    engine: Engine, where: str, spawn: SpawnContext
) -> None:
    round_id, group_id, plain = vendors(engine, 6)
    for code in plain:
        ballots.submit_with_retry(engine, code, full_answers(engine, round_id, group_id))
    url = engine.url.render_as_string(hide_password=False)
    process = spawn.Process(target=_close_and_die, args=(url, round_id, group_id, where))
    process.start()
    process.join(120)
    assert process.exitcode == -signal.SIGKILL

    with db.session(engine) as s:
        (state,) = evaluation.status(session=s, round_id=round_id)
    if where == "count":  # the transaction never committed: the box is whole
        assert (rows(engine, BallotBox), rows(engine, Ballot), state.counted) == (6, 0, False)
    else:  # committed, not sealed: counted, and the next close seals
        assert (rows(engine, BallotBox), rows(engine, Ballot), state.counted) == (0, 6, True)
        assert not state.sealed
    done = evaluation.close(engine, round_id=round_id, group_id=group_id)
    assert (done.ballots, done.sealed) == (6, True)
    assert (rows(engine, BallotBox), rows(engine, Ballot)) == (0, 6)
    assert tally_problems(engine) == []


# ---- the command line


def test_the_command_line_closes_the_groups_and_says_their_state(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(db, "engine", lambda: engine)
    round_id, group_id, plain = vendors(engine, 3)
    for code in plain[:2]:
        ballots.submit_with_retry(engine, code, full_answers(engine, round_id, group_id))

    assert cli.main(["evaluation", "status"]) == 0
    out = capsys.readouterr().out
    assert "市场经营户: 评议中;发放 3,已投票 2,票箱中 2" in out

    assert cli.main(["evaluation", "close", "--group", "vendors"]) == 0
    assert "市场经营户:已开箱计票,2 票" in capsys.readouterr().out
    assert cli.main(["evaluation", "close"]) == 0
    assert "没有等待开箱计票的群体" in capsys.readouterr().out
    assert cli.main(["evaluation", "status", "--round", str(round_id)]) == 0
    assert "市场经营户: 已开箱计票;发放 3,已投票 2,票箱中 0,计入结果 2 票" in (
        capsys.readouterr().out
    )
    assert cli.main(["evaluation", "close", "--group", "nobody"]) == 1
    assert "没有评议群体「nobody」" in capsys.readouterr().err


def test_the_sqlite_wal_is_emptied_by_the_seal(sqlite_engine: Engine) -> None:
    round_id, group_id, plain = vendors(sqlite_engine, 3)
    for code in plain:
        ballots.submit_with_retry(
            sqlite_engine, code, full_answers(sqlite_engine, round_id, group_id)
        )
    wal = Path(f"{sqlite_engine.url.database}-wal")
    assert wal.stat().st_size > 0
    evaluation.close(sqlite_engine, round_id=round_id, group_id=group_id)
    assert wal.stat().st_size == 0
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA freelist_count")).scalar() == 0
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 2  # FAST
