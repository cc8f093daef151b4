"""登录, 创建管理员 and 修改密码 in AppTest: the login form, the lock after five wrong
passwords, the first-run page that works only once, the change of a one-time password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apptools import APP, OFFICE, OFFICE_PASSWORD, forget_engines
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from pingyi import audit, auth, db, logins
from pingyi.models import Account, Member
from pingyi.ui import auth as login


def fill_login(at: AppTest, username: str, password: str) -> AppTest:
    boxes = {t.label: t for t in at.main.text_input}
    boxes["用户名"].set_value(username)
    boxes["密码"].set_value(password)
    return next(b for b in at.main.button if b.label == "登录").click().run()


def test_the_office_logs_in_and_lands_on_the_home_page(demo_db: Path, open_page) -> None:
    at = open_page(as_=None)
    assert at.title[0].value == "领导点评和群众评议"
    at = fill_login(at, OFFICE, OFFICE_PASSWORD)
    assert not at.exception
    assert at.session_state[login.ACCOUNT] is not None
    assert any(m.value.startswith("本系统按季度组织") for m in at.markdown), "the home page"
    assert any(b.label == "退出登录" for b in at.sidebar.button)


def test_five_wrong_passwords_lock_the_account_and_the_office_sees_it_logged(
    demo_db: Path, open_page
) -> None:
    at = open_page(as_=None)
    for attempt in range(5):
        at = fill_login(at, OFFICE, f"wrong-pass-{attempt}")
    assert at.error[0].value == "密码连续错误 5 次,账号已锁定 15 分钟"
    at = fill_login(at, OFFICE, OFFICE_PASSWORD)
    assert "账号已锁定" in at.error[0].value
    assert login.ACCOUNT not in at.session_state
    with db.session() as s:
        locks = audit.events(session=s, action=audit.Action.LOCK_ACCOUNT)
    assert [(e.actor, e.detail) for e in locks] == [
        (OFFICE, "密码连续错误 5 次,账号已锁定 15 分钟")
    ]


def test_the_first_run_page_makes_the_first_admin_and_then_refuses(
    first_run_db: Path, open_page
) -> None:
    at = open_page(as_=None)
    assert at.title[0].value == "创建管理员账号"
    boxes = {t.label: t for t in at.main.text_input}
    boxes["用户名"].set_value("office")
    boxes["密码"].set_value("first-pass-1")
    boxes["再次输入密码"].set_value("first-pass-1")
    at = next(b for b in at.main.button if b.label == "创建管理员").click().run()
    assert not at.exception and at.session_state[login.ACCOUNT] is not None

    again = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py")).run()
    again.switch_page("pages/setup.py").run()
    assert again.error[0].value.startswith("系统已有管理员,此页面已停用")
    assert not again.main.text_input
    with db.session() as s:
        assert len(auth.accounts(session=s)) == 1


def test_two_different_passwords_on_the_first_run_page_make_nothing(
    first_run_db: Path, open_page
) -> None:
    at = open_page(as_=None)
    boxes = {t.label: t for t in at.main.text_input}
    boxes["用户名"].set_value("office")
    boxes["密码"].set_value("first-pass-1")
    boxes["再次输入密码"].set_value("first-pass-2")
    at = next(b for b in at.main.button if b.label == "创建管理员").click().run()
    assert [e.value for e in at.error] == ["两次输入的密码不一致"]
    with db.session() as s:
        assert not auth.has_admin(session=s)


def member_with_one_time_password() -> auth.InitialPassword:
    with db.transaction() as s:
        member = s.exec(select(Member).where(Member.roster_id == "P00014")).one()
        (line,) = auth.create_member_accounts(actor="测试", session=s, member_ids=[member.id])  # type: ignore[list-item]
    return line


def test_a_one_time_password_must_be_changed_before_anything_else(demo_db: Path, open_page) -> None:
    line = member_with_one_time_password()
    at = fill_login(open_page(as_=None), line.username, line.password)
    assert at.title[0].value == "修改密码"
    assert "第一次登录" in at.info[0].value
    at.switch_page("pages/summary.py").run()
    assert [w.value for w in at.main.warning] == ["请先修改初始密码。"]

    at.switch_page("pages/password.py").run()
    boxes = {t.label: t for t in at.main.text_input}
    boxes["原密码"].set_value(line.password)
    boxes["新密码"].set_value("my-own-pass-9")
    boxes["再次输入新密码"].set_value("my-own-pass-9")
    at = next(b for b in at.main.button if b.label == "修改密码").click().run()
    assert at.success[0].value == "密码已修改,其他已登录的页面和设备需要重新登录。"
    at.switch_page("pages/summary.py").run()
    assert not at.main.warning and at.title[0].value == "自我小结"


def test_logging_out_forgets_the_account(demo_db: Path, open_page) -> None:
    at = open_page()
    at = next(b for b in at.sidebar.button if b.label == "退出登录").click().run()
    assert login.ACCOUNT not in at.session_state
    assert [i.value for i in at.info] == ["已退出登录。"]
    assert [t.label for t in at.main.text_input] == ["用户名", "密码"]


def test_an_idle_session_must_log_in_again(demo_db: Path, open_page) -> None:
    at = open_page("pages/roster.py")
    idle = datetime.now(UTC) - timedelta(minutes=auth.IDLE_MINUTES, seconds=1)
    with db.transaction() as s:
        logins.touch(session=s, login_id=at.session_state[login.LOGIN], now=idle)
    at.run()
    assert [w.value for w in at.main.warning] == [login.MSG_LOGIN_FIRST]
    assert login.MSG_IDLE in [i.value for i in at.main.info]


def test_a_deactivated_account_is_logged_out_at_once(demo_db: Path, open_page) -> None:
    with db.transaction() as s:
        auth.create_admin(actor="测试", session=s, username="second", password="second-pass-1")
    at = open_page("pages/roster.py", as_="second")
    with db.transaction() as s:
        second = s.exec(select(Account).where(Account.username == "second")).one()
        auth.set_active(actor="测试", session=s, account_id=second.id, active=False)  # type: ignore[arg-type]
    at.run()
    assert [w.value for w in at.main.warning] == [login.MSG_LOGIN_FIRST]


def test_a_database_that_does_not_answer_gets_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 1: nothing listens, the connection is refused at once.
    monkeypatch.setenv("PINGYI_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    monkeypatch.setenv("PINGYI_DATA_DIR", str(tmp_path))
    forget_engines()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        assert not at.exception
        assert [e.value for e in at.error] == [
            "数据库暂时无法连接,请稍后刷新页面。如果一直如此,请联系领导小组办公室。"
        ]
    finally:
        forget_engines()


def test_a_password_change_keeps_this_tab_and_ends_every_other_login(
    demo_db: Path, open_page
) -> None:
    with db.transaction() as s:
        auth.create_admin(actor="测试", session=s, username="second", password="second-pass-1")
    here = open_page("pages/password.py", as_="second")
    elsewhere = open_page("pages/roster.py", as_="second")
    boxes = {t.label: t for t in here.main.text_input}
    boxes["原密码"].set_value("second-pass-1")
    boxes["新密码"].set_value("second-pass-2")
    boxes["再次输入新密码"].set_value("second-pass-2")
    here = next(b for b in here.main.button if b.label == "修改密码").click().run()
    assert here.success[0].value.startswith("密码已修改")
    here.switch_page("pages/roster.py").run()
    assert not here.main.warning and here.title[0].value == "名册"
    elsewhere.run()
    assert [w.value for w in elsewhere.main.warning] == [login.MSG_LOGIN_FIRST]
    assert logins.Refusal.UNKNOWN.value in [i.value for i in elsewhere.main.info]
