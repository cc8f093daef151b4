"""A review through to its 整改 item, in Debian's chromium, as the three people do it.

The 党组书记 logs in with the one-time password the office printed, changes it, reviews an
ordinary 机关 member from the worklist and submits; the member logs in, sees the review and
the 整改 item it made, and updates the item; the office logs in and sees the update.
"""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from pingyi import db
from pingyi.models import Member

pytestmark = pytest.mark.browser

EXCEPTION = '[data-testid="stException"]'
REVIEWED = "P00014"  # an ordinary 机关 member: the 党组书记 reviews them
PRAISE = "带头落实窗口服务承诺,群众满意"
DIRECTION = "进一步提高业务能力"
REQUIREMENT = "补齐三会一课学习笔记"
EVIDENCE = "已补记十月、十一月学习笔记"


@pytest.fixture(scope="module")
def server(own_demo_app):  # type: ignore[no-untyped-def]
    own_demo_app.cli("round", "step", "开展点评")
    return own_demo_app


def one_time_passwords(server) -> dict[str, str]:
    """What the office printed: username → one-time password."""
    out = server.cli("accounts", "create").stdout
    return {row[0]: row[3] for row in csv.reader(io.StringIO(out), delimiter="\t") if row}


def name_of(server, roster_id: str) -> str:
    engine = db.make_engine(server.env["PINGYI_DATABASE_URL"])
    try:
        with db.session(engine) as s:
            return s.exec(select(Member.name).where(Member.roster_id == roster_id)).one()
    finally:
        engine.dispose()


def first_login(page, server, username: str, password: str, settle, log_in) -> None:  # type: ignore[no-untyped-def]
    """Log in with the one-time password and replace it, as the page insists."""
    log_in(page, server, "", username, password)
    settle(page, "这是您第一次登录")
    page.get_by_label("原密码").fill(password)
    page.get_by_label("新密码", exact=True).fill(f"{username}-own-pass-1")
    page.get_by_label("再次输入新密码").fill(f"{username}-own-pass-1")
    page.get_by_role("button", name="修改密码").click()
    settle(page, "密码已修改")


def go(page, title: str, settle, text: str) -> None:  # type: ignore[no-untyped-def]
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    settle(page, text)


def choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.get_by_label(label).click()
    page.get_by_role("option", name=option).first.click()


def log_out(page, settle) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="退出登录").click()
    settle(page, "已退出登录")


def test_a_review_becomes_an_item_the_member_updates_and_the_office_sees(
    server, new_page, settle, log_in, screenshot
):  # type: ignore[no-untyped-def]
    passwords = one_time_passwords(server)
    member = name_of(server, REVIEWED)
    page = new_page(1280, 900)

    # The 党组书记 reviews the member from the worklist.
    first_login(page, server, "P00001", passwords["P00001"], settle, log_in)
    go(page, "开展点评", settle, "已提交 0 /")
    choose(page, "点评对象", f"○ {member}")
    settle(page, "测评项目")
    form = page.locator('[data-testid="stForm"]').filter(has_text="测评项目")
    for group in form.locator('[data-testid="stRadio"]').all():
        group.get_by_text("好", exact=True).click()
    page.get_by_label("肯定成绩").fill(PRAISE)
    page.get_by_label("明确方向").fill(DIRECTION)
    page.get_by_label("整改要求").fill(REQUIREMENT)
    page.get_by_role("button", name="提交").click()
    settle(page, "已提交点评")
    expect(page.get_by_text("已提交 1 /")).to_be_visible()
    screenshot(page, "cycle-review-submitted")
    log_out(page, settle)

    # The member sees the review and the item, and reports progress on it.
    first_login(page, server, REVIEWED, passwords[REVIEWED], settle, log_in)
    go(page, "我收到的点评", settle, "领导点评")
    expect(page.get_by_text(PRAISE)).to_be_visible()
    expect(page.get_by_text(REQUIREMENT).first).to_be_visible()
    screenshot(page, "cycle-member-reviews")
    go(page, "整改落实", settle, "更新整改情况")
    page.locator('[data-testid="stRadio"]').get_by_text("进行中", exact=True).click()
    page.get_by_label("整改情况说明").fill(EVIDENCE)
    page.get_by_role("button", name="保存").click()
    settle(page, "已更新整改事项")
    log_out(page, settle)

    # The office sees the member's update.
    log_in(page, server, "rectification")
    settle(page, "更新整改情况")
    choose(page, "选择整改事项", f"【进行中】{REQUIREMENT}")
    expect(page.get_by_text("当前状态:进行中")).to_be_visible()
    expect(page.get_by_label("整改情况说明")).to_have_value(EVIDENCE)
    screenshot(page, "cycle-office-sees-update")
    assert page.locator(EXCEPTION).count() == 0
