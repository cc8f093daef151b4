"""The app in Debian's chromium at 1280×900: each page renders, in Chinese, without an error."""

from __future__ import annotations

import pytest
from appserver import ROOT
from playwright.sync_api import expect

from pingyi import demo

pytestmark = pytest.mark.browser

EXCEPTION = '[data-testid="stException"]'
PAGES = [
    # (url path, file name of the screenshot, texts the page must show)
    ("", "home", ["领导点评和群众评议", "当前轮次", demo.DEMO_ROUND, "名册概况"]),
    ("roster", "roster", ["名册", "下载当前名册", "只看"]),
    ("relations", "relations", ["评议关系完整,没有发现问题", "按点评人", "按评议群体"]),
]


@pytest.mark.parametrize(("path", "name", "texts"), PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_in_chinese_without_exception(
    demo_app, page, settle, screenshot, log_in, path, name, texts
):  # type: ignore[no-untyped-def]
    log_in(page, demo_app, path)
    settle(page, texts[-1])
    for text in texts:
        assert page.get_by_text(text, exact=False).first.is_visible(), text
    nav = page.locator('[data-testid="stSidebarNav"]')
    for title in ("首页", "名册", "评议关系"):
        assert nav.get_by_text(title, exact=True).is_visible()
    screenshot(page, f"desktop-{name}")
    assert page.locator(EXCEPTION).count() == 0


def test_home_links_and_sidebar_lead_to_the_other_pages(demo_app, page, settle, log_in):  # type: ignore[no-untyped-def]
    log_in(page, demo_app)
    settle(page, "名册概况")
    page.get_by_text("检查评议关系").click()
    settle(page, "按点评人")
    assert page.url.rstrip("/").endswith("/relations")
    page.locator('[data-testid="stSidebarNav"]').get_by_text("名册", exact=True).click()
    settle(page, "下载当前名册")
    assert page.url.rstrip("/").endswith("/roster")
    assert page.locator(EXCEPTION).count() == 0


def test_first_run_creates_the_admin_then_loads_the_demo(empty_app, page, settle, screenshot):  # type: ignore[no-untyped-def]
    page.goto(empty_app.url)
    settle(page, "创建管理员账号")
    screenshot(page, "desktop-first-run")
    page.get_by_label("用户名").fill("office")
    page.get_by_label("姓名或名称").fill("领导小组办公室")
    page.get_by_label("密码", exact=True).fill("office-pass-1")
    page.get_by_label("再次输入密码").fill("office-pass-1")
    page.get_by_role("button", name="创建管理员").click()
    settle(page, "数据库里还没有名册")
    screenshot(page, "desktop-home-empty")
    page.get_by_role("button", name="加载示例数据").click()
    settle(page, "已加载示例数据", timeout=60_000)
    # The old run's elements linger, faded, until the new run replaces them.
    expect(page.get_by_role("button", name="加载示例数据")).to_have_count(0)
    assert page.get_by_text(demo.DEMO_ROUND).first.is_visible()
    screenshot(page, "desktop-home-after-demo")
    assert page.locator(EXCEPTION).count() == 0


def test_bad_roster_upload_lists_every_error_as_typed(
    demo_app, page, settle, screenshot, log_in, tmp_path
):  # type: ignore[no-untyped-def]
    bad = tmp_path / "名册.csv"
    bad.write_text(
        "编号,姓名,单位,单位类型,党支部,党组书记,班子成员,党员干部,支部书记,年老体弱,联系支部\n"
        "A001,,局机关,机关,机关党支部,是,是,否,否,否,\n"
        "A002,李四,局机关,机关,机关党支部,否,Y:1,否,否,否,\n"
        # A person's name, in Markdown's italics, typed where a branch belongs.
        "A003,王五,局机关,机关,机关党支部,否,是,否,否,否,*李四*\n",
        encoding="utf-8",
    )
    log_in(page, demo_app, "roster")
    settle(page, "下载当前名册")
    page.get_by_text("导入名册、下载模板").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    settle(page, "名册有 3 处错误")
    alert = page.locator('[data-testid="stAlertContentError"]')
    expect(alert).to_contain_text("第 2 行「姓名」为空")
    # Markdown and directives in a cell are shown as typed, never interpreted: the asterisks
    # are on the page and nothing is in italics; no directive ate the colon.
    expect(alert).to_contain_text("第 3 行「班子成员」的值「Y:1」无效")
    expect(alert).to_contain_text("第 4 行「联系支部」中的「*李四*」是未知党支部")
    expect(alert.locator("em, i")).to_have_count(0)
    screenshot(page, "desktop-roster-import-errors")
    assert page.locator(EXCEPTION).count() == 0


def test_first_request_to_a_fresh_server_by_deep_link_gets_the_apps_menu(
    empty_app, page, settle, log_in
):  # type: ignore[no-untyped-def]
    # Streamlit runs a `pages/` folder as an old-style app until st.navigation has run once;
    # a bookmark or QR link that is the server's first request must still get app.py's pages.
    empty_app.cli("create-admin", "office", stdin="office-pass-1")  # no request to the server
    page.goto(f"{empty_app.url}/roster")
    settle(page, "请先登录")
    assert page.get_by_text("名册是空的").count() == 0, "nothing of the page before login"
    for file_name in ("app", "ballot", "roster"):
        expect(page.get_by_text(file_name, exact=True)).to_have_count(0)
    log_in(page, empty_app, "roster")
    settle(page, "名册是空的")
    nav = page.locator('[data-testid="stSidebarNav"]')
    for title in ("首页", "名册", "评议关系"):
        expect(nav.get_by_text(title, exact=True)).to_be_visible()
    for file_name in ("app", "ballot", "roster"):
        expect(nav.get_by_text(file_name, exact=True)).to_have_count(0)
    assert page.locator(EXCEPTION).count() == 0


# Records the text of every link the sidebar menu ever shows, from the first byte of the page:
# a menu drawn for one frame and replaced by the next would escape a look after loading.
_RECORD_MENU_LINKS = """
window.__menuLinks = new Set();
new MutationObserver(() => {
    for (const link of document.querySelectorAll('[data-testid="stSidebarNav"] a')) {
        window.__menuLinks.add(link.textContent.trim());
    }
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


@pytest.mark.parametrize(
    ("path", "text"), [("", "创建管理员账号"), ("audit", "请先登录"), ("ballot", "测评码")]
)
def test_a_fresh_server_never_draws_a_menu_of_file_names(empty_app, page, settle, path, text):  # type: ignore[no-untyped-def]
    """The first load after a start, at "/" or at any page's address, draws nothing but the
    app's own menu: never Streamlit's list of the files in pages/ (app, accounts, audit, …)."""
    page.add_init_script(_RECORD_MENU_LINKS)
    page.goto(f"{empty_app.url}/{path}")
    settle(page, text)
    page.wait_for_timeout(500)  # a late redraw would be recorded too
    shown = set(page.evaluate("[...window.__menuLinks]"))
    files = {p.stem for p in (ROOT / "pages").glob("*.py")} | {"app"}
    assert not shown & files, f"the menu showed file names: {sorted(shown & files)}"
    assert page.locator(EXCEPTION).count() == 0
