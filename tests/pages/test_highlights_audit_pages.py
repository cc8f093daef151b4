"""好经验好做法 and 操作日志 in AppTest: the office publishes a passage every member reads; the
log lists what the office did, newest first."""

from __future__ import annotations

from pathlib import Path

from apptools import member_accounts

from pingyi import audit, db

MEMBER = "P00014"


def test_the_office_publishes_and_a_member_reads_it(demo_db: Path, open_page) -> None:
    member_accounts([MEMBER])
    at = open_page("pages/highlights.py")
    assert "还没有发布的好经验" in at.info[0].value
    title = next(t for t in at.main.text_input if t.label == "标题")
    title.set_value("窗口服务<b>零投诉</b>")
    next(t for t in at.main.text_area if t.label.startswith("内容")).set_value("每月走访经营户")
    at = next(b for b in at.main.button if b.label == "发布").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value.startswith("已发布")

    reader = open_page("pages/highlights.py", as_=MEMBER)
    assert not reader.main.text_input, "members read; only the office publishes"
    assert [t.value for t in reader.main.text] == ["每月走访经营户"]
    assert "零投诉" in reader.main.subheader[0].value
    with db.session() as s:
        published = audit.events(session=s, action=audit.Action.PUBLISH_HIGHLIGHT)
    assert [e.detail for e in published] == ["窗口服务<b>零投诉</b>"]


def test_the_audit_log_lists_the_office_s_actions_newest_first(demo_db: Path, open_page) -> None:
    with db.transaction() as s:
        audit.record(session=s, actor="领导小组办公室", action="导入名册", detail="名册.xlsx")
        audit.record(session=s, actor="领导小组办公室", action="公布结果", detail="第四季度")
    at = open_page("pages/audit.py")
    frame = at.main.dataframe[0].value
    assert list(frame["操作"])[:2] == ["公布结果", "导入名册"]  # after the demo's own rows
    assert list(frame.columns) == ["时间", "操作人", "操作", "内容"]
    at.selectbox[0].set_value("导入名册").run()
    shown = at.main.dataframe[0].value
    assert set(shown["操作"]) == {"导入名册"} and shown["内容"].iloc[0] == "名册.xlsx"
