"""首页 in AppTest: the empty database offers the demo and the roster import; the demo shows."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from pingyi import db, demo


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_empty_database_offers_demo_data_and_roster_import(empty_db: Path, open_page) -> None:
    at = open_page()
    assert at.title[0].value == "领导点评和群众评议"
    assert "领导点评" in at.markdown[0].value and "群众评议" in at.markdown[0].value
    assert "数据库里还没有名册" in at.info[0].value
    assert [b.label for b in at.main.button] == ["加载示例数据"]
    assert "导入名册" in [link.label for link in at.get("page_link")]
    assert "还没有评议轮次" in at.caption[0].value
    assert metrics(at) == {"单位": "0", "党支部": "0", "党员": "0", "评议对象": "0"}


def test_load_demo_button_loads_the_demo_bureau(empty_db: Path, open_page) -> None:
    at = open_page()
    at.main.button[0].click().run()
    assert not at.exception
    assert "已加载示例数据" in at.success[0].value
    assert not at.main.button, "the button is gone once there is a roster"
    counts = metrics(at)
    assert int(counts["党员"]) > 100 and int(counts["党支部"]) >= 7
    assert any(demo.DEMO_ROUND in m.value for m in at.markdown)
    with db.session() as s:
        assert demo.has_data(session=s)


def test_click_after_another_tab_loaded_data_loads_nothing_twice(empty_db: Path, open_page) -> None:
    at = open_page()
    # Another tab loads the demo after this one drew its button; then this tab clicks.
    with db.transaction() as s:
        demo.load_demo(actor="测试", session=s)
    at.main.button[0].click().run()
    assert not at.exception and not at.error
    assert not at.success, "this click loaded nothing"
    assert metrics(at)["党员"] == "105"


def test_home_shows_the_current_round_and_roster_counts(demo_db: Path, open_page) -> None:
    at = open_page()
    text = "\n".join(m.value for m in at.markdown)
    assert demo.DEMO_ROUND in text
    assert "季度:2026Q4" in text and "阶段:自我小结" in text
    assert not at.info and not at.main.button
    counts = metrics(at)
    assert counts["党员"] == "105" and counts["党支部"] == "7" and counts["单位"] == "7"
    assert int(counts["评议对象"]) == 105 + 7 + 1  # every member, every branch, the 领导班子
    assert {link.label for link in at.get("page_link")} == {"查看名册", "检查评议关系"}
