"""`pingyi backup` and `pingyi restore`, run in-process on both backends.

The demo bureau with some ballots and comments is backed up; the database is then replaced
(`demo --replace`) and restored: the same members, ballots, ratings, tallies, used codes and
their devices' receipts come back, the tallies still equal a recount, and voting goes on. A
restore over data refuses without --replace; a backup of the previous release is upgraded.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, func, select, text
from sqlmodel import col
from worlds import bureau, count, full_answers, issue

from pingyi import audit, backup, ballots, cli, codes, config, db, groups, rounds, tally
from pingyi.models import (
    Ballot,
    BallotBox,
    EvaluationCode,
    GroupKey,
    MassComment,
    Member,
    Rating,
    Tally,
)


def point_cli_at(bind: Engine, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """`pingyi …` (cli.main) works on this database from now on."""
    forget_cli_engine()
    monkeypatch.setenv("PINGYI_DATABASE_URL", bind.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PINGYI_DATA_DIR", str(data_dir))


def forget_cli_engine() -> None:
    if db.engine.cache_info().currsize:
        db.engine().dispose()
    config.settings.cache_clear()
    db.engine.cache_clear()


@pytest.fixture
def app_db(engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    """The `engine` fixture's database (SQLite, then PostgreSQL), also the CLI's."""
    point_cli_at(engine, monkeypatch, tmp_path)
    yield engine
    forget_cli_engine()


@pytest.fixture
def new_database(
    app_db: Engine, empty_database: Callable[[str], AbstractContextManager[Engine]]
) -> Iterator[Engine]:
    """Another database on the same backend, with nothing in it at all."""
    with empty_database("sqlite" if db.is_sqlite(app_db) else "postgresql") as other:
        yield other


def counts(bind: Engine) -> dict[str, int]:
    def n(query) -> int:  # type: ignore[no-untyped-def]
        return int(s.scalar(query) or 0)

    with db.session(bind) as s:
        return {
            "members": n(select(func.count()).select_from(Member)),
            "boxed": n(select(func.count()).select_from(BallotBox)),
            "ballots": n(select(func.count()).select_from(Ballot)),
            "ratings": n(select(func.count()).select_from(Rating)),
            "tallies": n(select(func.count()).select_from(Tally)),
            "tallied ratings": n(select(func.sum(Tally.count))),
            "comments": n(select(func.count()).select_from(MassComment)),
            "used codes": n(select(func.count()).where(col(EvaluationCode.used))),
            "receipts": n(select(func.count(col(EvaluationCode.receipt)))),
        }


def tally_problems(bind: Engine) -> list[str]:
    with db.session(bind) as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        return tally.verify(session=s, round_id=round_.id)  # type: ignore[arg-type]


def vote(bind: Engine) -> tuple[list[str], dict[str, str]]:
    """Ballots of two groups with a comment each in the demo round, most sent with their
    device's token: the unused codes, and the token of each used code that had one."""
    with db.transaction(bind) as s:
        round_id = rounds.current(session=s).id  # type: ignore[union-attr]
        ids = {key: group.id for key, group in groups.by_key(session=s).items()}
        staff = codes.issue(
            actor="测试", session=s, round_id=round_id, group_id=ids[GroupKey.ALL_STAFF], count=6
        )
        vendors = codes.issue(
            actor="测试", session=s, round_id=round_id, group_id=ids[GroupKey.VENDORS], count=3
        )
    tokens: dict[str, str] = {}
    for group, plain in ((GroupKey.ALL_STAFF, staff[:4]), (GroupKey.VENDORS, vendors[:2])):
        for n, code in enumerate(plain):
            answers = full_answers(bind, round_id, ids[group], level=n, vary=n != 1)  # type: ignore[arg-type]
            target = next(iter(answers))[0]
            if n != 3:  # one ballot came from a device without a token
                tokens[code] = secrets.token_hex(16)
            ballots.submit_with_retry(
                bind, code, answers, {target: f"第 {n} 张票的意见"}, receipt=tokens.get(code)
            )
    return [staff[4], staff[5], vendors[2]], tokens


def run(*argv: str) -> int:
    return cli.main([str(arg) for arg in argv])


def audit_actions(bind: Engine) -> list[str]:
    with db.session(bind) as s:
        return [event.action for event in audit.events(session=s)]


def test_a_backup_brings_everything_back_after_the_database_was_replaced(
    app_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("demo", "--no-history") == 0
    unused, tokens = vote(app_db)
    before = counts(app_db)
    # Cast, not counted: the six ballots wait sealed in the box, and come back with it.
    assert before["boxed"] == 6 and before["ballots"] == before["comments"] == 0
    assert before["used codes"] == 6 and before["receipts"] == len(tokens) == 5
    out = tmp_path / ("评议备份.db" if db.is_sqlite(app_db) else "评议备份.dump")

    assert run("backup", "--out", out) == 0
    assert "已备份到" in capsys.readouterr().out
    assert out.stat().st_size > 0
    assert not list(tmp_path.glob(".*partial"))
    assert "备份数据库" in audit_actions(app_db)

    # Everything replaced: a new demo round, no ballots; the backup must not land on it blindly.
    assert run("demo", "--replace", "--no-history") == 0
    replaced = counts(app_db)
    assert replaced["ballots"] == 0
    assert run("restore", out) == 1
    assert "--replace" in capsys.readouterr().err
    assert counts(app_db) == replaced

    assert run("restore", out, "--replace") == 0
    assert "已从" in capsys.readouterr().out
    assert counts(app_db) == before
    assert tally_problems(app_db) == []
    assert "恢复数据库" in audit_actions(app_db)

    # The restored round takes ballots again; used codes stay used, and a device whose ballot
    # was in before the backup is still told so (its receipt came back with the code).
    first, fresh, _ = unused
    with db.session(app_db) as s:
        round_id = rounds.current(session=s).id  # type: ignore[union-attr]
        staff = groups.by_key(session=s)[GroupKey.ALL_STAFF].id
        kept = {
            code: s.scalar(
                select(EvaluationCode.receipt).where(
                    EvaluationCode.code_hash == codes.hash_code(code)
                )
            )
            for code in tokens
        }
    assert kept == {code: ballots.receipt_hash(token) for code, token in tokens.items()}
    full = full_answers(app_db, round_id, staff)  # type: ignore[arg-type]
    for code, token in tokens.items():
        assert ballots.submit_with_retry(app_db, code, full, receipt=token).again
        with pytest.raises(ballots.AlreadyUsed):
            ballots.submit_with_retry(app_db, code, full, receipt=secrets.token_hex(16))
    for code in (first, fresh):
        assert not ballots.submit_with_retry(
            app_db, code, full, receipt=secrets.token_hex(16)
        ).again
    with pytest.raises(ballots.AlreadyUsed):
        ballots.submit_with_retry(app_db, first, full)
    # The restored box opens with the app's key: 开箱计票 counts the eight ballots once.
    count(app_db, round_id)  # type: ignore[arg-type]
    after = counts(app_db)
    assert (after["boxed"], after["ballots"], after["comments"]) == (0, 8, 6)
    assert tally_problems(app_db) == []


def test_a_backup_restores_into_a_new_empty_database(
    app_db: Engine,
    new_database: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run("demo", "--no-history") == 0
    vote(app_db)
    before = counts(app_db)
    assert before["receipts"] == 5
    out = tmp_path / "backup.file"
    assert run("backup", "--out", out) == 0

    point_cli_at(new_database, monkeypatch, tmp_path)
    assert run("restore", out) == 0  # nothing there to lose: no --replace needed
    assert counts(new_database) == before
    assert tally_problems(new_database) == []
    assert audit_actions(new_database)[0] == "恢复数据库"


def test_a_backup_taken_while_ballots_come_in_is_of_one_moment(
    app_db: Engine, new_database: Engine, tmp_path: Path
) -> None:
    world = bureau(app_db)
    staff = world.groups[GroupKey.UNIT_STAFF]
    plain = issue(app_db, world.round_id, staff, 120)
    answers = full_answers(app_db, world.round_id, staff)
    stored: list[str] = []
    # The last ballots wait for the backup, so it is taken before the meeting ends however
    # slow the machine (a busy one stored all 120 while a backup was being written).
    late = 10
    taken = threading.Event()

    def meeting() -> None:  # the app keeps taking ballots during the backup
        for n, code in enumerate(plain):
            if n == len(plain) - late:
                taken.wait(timeout=120)
            ballots.submit_with_retry(app_db, code, answers)
            stored.append(code)

    taking = threading.Thread(target=meeting)
    taking.start()
    try:
        while len(stored) < 20 and taking.is_alive():
            time.sleep(0.001)
        made = backup.backup(bind=app_db, out=tmp_path / "online.backup", actor="测试")
    finally:
        taken.set()
        taking.join()
    assert len(stored) == len(plain)

    backup.restore(bind=new_database, source=made.path, actor="测试")
    with db.session(new_database) as s:
        ballots_kept = s.scalar(select(func.count()).select_from(BallotBox))
        used = s.scalar(select(func.count()).where(col(EvaluationCode.used)))
        assert tally.verify(session=s, round_id=world.round_id) == []
    assert ballots_kept == used and 20 <= used <= len(plain) - late


def test_a_backup_of_the_previous_release_is_restored_and_upgraded(
    app_db: Engine,
    new_database: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = db.alembic_config(new_database)
    with new_database.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
    with new_database.begin() as conn:
        conn.execute(text("INSERT INTO unit (name, kind) VALUES ('旧版本的机关', '机关')"))
    old = tmp_path / "old-release.backup"
    assert backup.backup(bind=new_database, out=old, actor="测试").revision == "0001"

    assert (
        run("demo", "--no-history") == 0
    )  # the current database has data, and tables 0001 did not have
    assert run("restore", old, "--replace") == 0
    with db.session(app_db) as s:
        assert s.scalar(text("SELECT version_num FROM alembic_version")) != "0001"
        assert s.scalar(text("SELECT name FROM unit")) == "旧版本的机关"
        assert s.scalar(select(func.count()).select_from(Member)) == 0
    assert audit_actions(app_db) == ["恢复数据库"]


def test_restore_refuses_what_is_not_a_backup_of_this_kind(
    app_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("不是备份", encoding="utf-8")
    assert run("restore", text_file, "--replace") == 1
    assert backup.MSG_NOT_A_BACKUP in capsys.readouterr().err
    assert run("restore", tmp_path / "missing.db") == 1
    assert "找不到备份文件" in capsys.readouterr().err

    other_kind = tmp_path / "other-kind"
    other_kind.write_bytes(
        backup.PG_DUMP_MAGIC + b"\0" * 64
        if db.is_sqlite(app_db)
        else backup.SQLITE_MAGIC + b"\0" * 64
    )
    assert run("restore", other_kind, "--replace") == 1
    assert "不能恢复到" in capsys.readouterr().err


def test_without_pg_dump_the_backup_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no PostgreSQL programs anywhere
    bind = db.make_engine("postgresql+psycopg://pingyi@127.0.0.1:1/nowhere")  # never connects
    with pytest.raises(backup.BackupError, match=r"找不到 pg_dump.*postgresql-client"):
        backup.backup(bind=bind, out=tmp_path / "x.dump", actor="测试")
    with pytest.raises(backup.BackupError, match="找不到 pg_restore"):
        backup.restore(bind=bind, source=_fake_dump(tmp_path), actor="测试")
    assert not list(tmp_path.glob("*.dump"))


def _fake_dump(directory: Path) -> Path:
    path = directory / "fake.pgdump"
    path.write_bytes(backup.PG_DUMP_MAGIC + b"\0" * 64)
    return path


def test_the_postgresql_password_never_goes_on_the_command_line() -> None:
    url = db.make_engine("postgresql+psycopg://office:s3cret@db.example:6543/pingyi").url
    conninfo, env = backup._pg_connection(url)
    assert "s3cret" not in conninfo  # other users of the machine can read command lines
    assert env["PGPASSWORD"] == "s3cret"
    assert "host=db.example" in conninfo and "port=6543" in conninfo
