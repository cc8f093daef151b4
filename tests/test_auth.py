"""Accounts: the first 管理员, one-time passwords, lockout after five wrong passwords, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from worlds import account_of, bureau

from pingyi import audit, auth, db, rounds
from pingyi.audit import Action
from pingyi.auth import AuthError, Role
from pingyi.models import Account, Member, Step

PASSWORD = "office-pass-1"


def make_admin(engine: Engine, username: str = "office") -> int:
    with db.transaction(engine) as s:
        return auth.create_admin(actor="测试", session=s, username=username, password=PASSWORD).id  # type: ignore[return-value]


def try_login(engine: Engine, username: str, password: str, now: datetime | None = None):  # type: ignore[no-untyped-def]
    with db.transaction(engine) as s:
        return auth.login(session=s, username=username, password=password, now=now)


def member_passwords(engine: Engine) -> dict[str, auth.InitialPassword]:
    with db.transaction(engine) as s:
        return {line.name: line for line in auth.create_member_accounts(actor="测试", session=s)}


def test_the_first_admin_can_be_made_once_only(engine: Engine) -> None:
    with db.transaction(engine) as s:
        auth.create_first_admin(session=s, username="office", password=PASSWORD)
    with pytest.raises(AuthError, match="已有管理员"), db.transaction(engine) as s:
        auth.create_first_admin(session=s, username="other", password=PASSWORD)
    with db.session(engine) as s:
        assert auth.has_admin(session=s)
        assert len(auth.accounts(session=s)) == 1


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", PASSWORD, "请填写用户名"),
        ("two words", PASSWORD, "不能包含空格"),
        ("office", "short1", "至少需要 8 个字符"),
        ("office", "onlyletters", "同时包含字母和数字"),
        ("office", "12345678", "同时包含字母和数字"),
    ],
)
def test_bad_admin_details_are_refused_in_chinese(
    sqlite_engine: Engine, username: str, password: str, message: str
) -> None:
    with pytest.raises(AuthError, match=message), db.transaction(sqlite_engine) as s:
        auth.create_admin(actor="测试", session=s, username=username, password=password)


def test_passwords_are_stored_as_argon2_hashes(engine: Engine) -> None:
    make_admin(engine)
    with db.session(engine) as s:
        stored = s.exec(select(Account)).one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_right_password_logs_in_and_wrong_one_says_how_many_tries_are_left(
    engine: Engine,
) -> None:
    make_admin(engine)
    assert try_login(engine, "office", PASSWORD).account is not None
    refused = try_login(engine, "office", "wrong-pass-1")
    assert refused.account is None and "再错 4 次" in refused.message
    unknown = try_login(engine, "nobody", PASSWORD)
    assert unknown.account is None and unknown.message == "用户名或密码不正确"


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(engine: Engine) -> None:
    make_admin(engine)
    now = datetime.now(UTC)
    results = [try_login(engine, "office", f"wrong-{n}x", now) for n in range(5)]
    assert [r.locked_now for r in results] == [False] * 4 + [True]
    locked = try_login(engine, "office", PASSWORD, now + timedelta(minutes=14))
    assert locked.account is None and "已锁定" in locked.message
    assert try_login(engine, "office", PASSWORD, now + timedelta(minutes=16)).account


def test_the_office_can_unlock_an_account(engine: Engine) -> None:
    account_id = make_admin(engine)
    for n in range(5):
        try_login(engine, "office", f"wrong-{n}x")
    with db.transaction(engine) as s:
        auth.unlock(actor="测试", session=s, account_id=account_id)
    assert try_login(engine, "office", PASSWORD).account is not None


def test_a_success_resets_the_count_of_wrong_passwords(engine: Engine) -> None:
    make_admin(engine)
    for n in range(4):
        try_login(engine, "office", f"wrong-{n}x")
    assert try_login(engine, "office", PASSWORD).account
    assert not try_login(engine, "office", "wrong-again1").locked_now


def test_member_accounts_get_one_time_passwords_that_must_be_changed(engine: Engine) -> None:
    world = bureau(engine)
    lines = member_passwords(engine)
    assert len(lines) == len(world.members)
    assert len({line.password for line in lines.values()}) == len(lines)
    assert all(set(line.password) <= set(auth.INITIAL_ALPHABET) for line in lines.values())
    first = lines["钱干事"]
    assert first.branch == "机关党支部"
    account = try_login(engine, first.username, first.password).account
    assert account is not None and account.must_change_password
    with db.transaction(engine) as s:
        auth.change_password(
            session=s,
            account_id=account.id,  # type: ignore[arg-type]
            old_password=first.password,
            new_password="my-own-pass-9",
        )
    assert try_login(engine, first.username, first.password).account is None
    again = try_login(engine, first.username, "my-own-pass-9").account
    assert again is not None and not again.must_change_password


def test_making_accounts_twice_makes_none_the_second_time(engine: Engine) -> None:
    bureau(engine)
    member_passwords(engine)
    with db.transaction(engine) as s:
        assert auth.create_member_accounts(actor="测试", session=s) == []
        assert auth.members_without_account(session=s) == []


def test_a_password_change_needs_the_old_password_and_a_new_one(engine: Engine) -> None:
    account_id = make_admin(engine)
    for old, new, message in [
        ("wrong-pass-1", "new-pass-12", "原密码不正确"),
        (PASSWORD, PASSWORD, "不能与原密码相同"),
        (PASSWORD, "short", "至少需要"),
    ]:
        with pytest.raises(AuthError, match=message), db.transaction(engine) as s:
            auth.change_password(
                session=s, account_id=account_id, old_password=old, new_password=new
            )


def test_reset_gives_a_new_one_time_password_and_lifts_the_lock(engine: Engine) -> None:
    bureau(engine)
    line = member_passwords(engine)["钱干事"]
    for n in range(5):
        try_login(engine, line.username, f"wrong-{n}x")
    with db.transaction(engine) as s:
        account = account_of(s, s.exec(select(Member.id).where(Member.name == "钱干事")).one())  # type: ignore[arg-type]
        fresh = auth.reset_password(actor="测试", session=s, account_id=account.id)  # type: ignore[arg-type]
    result = try_login(engine, line.username, fresh.password)
    assert result.account is not None and result.account.must_change_password


def test_the_last_admin_cannot_be_deactivated(engine: Engine) -> None:
    first = make_admin(engine)
    with pytest.raises(AuthError, match="最后一个管理员"), db.transaction(engine) as s:
        auth.set_active(actor="测试", session=s, account_id=first, active=False)
    second = make_admin(engine, "office2")
    with db.transaction(engine) as s:
        auth.set_active(actor="测试", session=s, account_id=second, active=False)
    assert try_login(engine, "office2", PASSWORD).account is None


def roles_of(engine: Engine, name: str) -> frozenset[Role]:
    with db.session(engine) as s:
        member_id = s.exec(select(Member.id).where(Member.name == name)).one()
        account = account_of(s, member_id)  # type: ignore[arg-type]
        return auth.roles(session=s, account=account)  # type: ignore[arg-type]


def test_reviewers_are_whom_the_round_s_rules_make_reviewers(engine: Engine) -> None:
    bureau(engine)
    member_passwords(engine)
    assert roles_of(engine, "王书记") == {Role.MEMBER, Role.REVIEWER}
    assert roles_of(engine, "李副局长") == {Role.MEMBER, Role.REVIEWER}  # a branch's liaison
    assert roles_of(engine, "第一党员1") == {Role.MEMBER, Role.REVIEWER}  # 支部书记
    assert roles_of(engine, "钱干事") == {Role.MEMBER}


def test_before_any_round_the_roster_flags_say_who_reviews(engine: Engine) -> None:
    world = bureau(engine)
    member_passwords(engine)
    with db.transaction(engine) as s:
        rounds.set_step(
            actor="测试", session=s, round_=s.get(rounds.Round, world.round_id), step=Step.CLOSED
        )  # type: ignore[arg-type]
    assert Role.REVIEWER in roles_of(engine, "张副局长")
    assert roles_of(engine, "钱干事") == {Role.MEMBER}


def test_the_office_account_is_admin_only(engine: Engine) -> None:
    make_admin(engine)
    with db.session(engine) as s:
        account = s.exec(select(Account)).one()
        assert auth.roles(session=s, account=account) == {Role.ADMIN}


def _log(engine: Engine) -> list[tuple[str, str, str]]:
    with db.session(engine) as s:
        return [(e.actor, e.action, e.detail) for e in reversed(audit.events(session=s))]


def test_each_account_operation_leaves_one_log_row(engine: Engine) -> None:
    with db.transaction(engine) as s:
        first = auth.create_first_admin(session=s, username="office", password="office-pass-1")
        other = auth.create_admin(
            session=s, username="second", password="second-pass-1", actor="office"
        )
        auth.reset_password(session=s, account_id=other.id, actor="office")  # type: ignore[arg-type]
        auth.unlock(session=s, account_id=other.id, actor="office")  # type: ignore[arg-type]
        auth.set_active(session=s, account_id=other.id, active=False, actor="office")  # type: ignore[arg-type]
        auth.set_active(session=s, account_id=other.id, active=True, actor="office")  # type: ignore[arg-type]
    assert first.username == "office"
    assert _log(engine) == [
        ("office", Action.CREATE_ADMIN, "首次启动创建"),
        ("office", Action.CREATE_ADMIN, "second"),
        ("office", Action.RESET_PASSWORD, "second"),
        ("office", Action.UNLOCK_ACCOUNT, "second"),
        ("office", Action.DISABLE_ACCOUNT, "second"),
        ("office", Action.ENABLE_ACCOUNT, "second"),
    ]


def test_a_lockout_is_logged_once_under_the_account_s_name(engine: Engine) -> None:
    make_admin(engine)
    for attempt in range(auth.MAX_FAILED_LOGINS):
        try_login(engine, "office", f"wrong-pass-{attempt}")
    assert [row[1:] for row in _log(engine) if row[1] == Action.LOCK_ACCOUNT] == [
        (Action.LOCK_ACCOUNT, "密码连续错误 5 次,账号已锁定 15 分钟")
    ]
