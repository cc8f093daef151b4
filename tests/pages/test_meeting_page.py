"""会议大屏 in AppTest, on a copy of the demo bureau with ballots of 局全体工作人员 (the 领导班子
and its 7 members: 8 cards, 55 items). The page runs on its own, as the codes page's tests run
theirs: the fragments and the office's buttons are all on it. Cast ballots wait sealed in the
group's 票箱 until the office ends the group's evaluation here (开箱计票); only then do they
count in the results.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from apptools import OFFICE, logged_in
from sqlmodel import func, select
from streamlit.testing.v1 import AppTest

from pingyi import audit, ballots, box, codes, db, evaluation, groups, meeting, rounds, tally
from pingyi.models import Ballot, BallotBox, GroupKey, Round
from pingyi.ui import meeting as view

PAGE = Path(__file__).resolve().parents[2] / "pages" / "meeting.py"
STAFF = "局全体工作人员"


@pytest.fixture
def round_id(demo_db: Path) -> int:
    with db.session() as s:
        current = rounds.current(session=s)
        assert current is not None
        return current.id  # type: ignore[return-value]


def vote(
    round_id: int, count: int, *, level: int = 0, group: GroupKey = GroupKey.ALL_STAFF
) -> None:
    """`count` complete ballots of the group (局全体工作人员), every item at `level` of the
    scale except one item a level lower (so no ballot is 一刀切)."""
    with db.transaction() as s:
        group_id = groups.by_key(session=s)[group].id
        plain = codes.issue(
            actor="测试", session=s, round_id=round_id, group_id=group_id, count=count
        )  # type: ignore[arg-type]
        form = ballots.ballot_form(session=s, round_id=round_id, group_id=group_id)  # type: ignore[arg-type]
    level_ids = [lvl.id for lvl in form.levels]
    answers = dict.fromkeys(form.items, level_ids[level])
    answers[form.items[0]] = level_ids[level + 1]
    for code in plain:
        with db.transaction() as s:
            ballots.submit(session=s, code=code, answers=answers)


def count_staff(round_id: int) -> None:
    """开箱计票 of 局全体工作人员, as the office ends its evaluation."""
    with db.session() as s:
        group_id = groups.by_key(session=s)[GroupKey.ALL_STAFF].id
    evaluation.close(db.engine(), round_id=round_id, group_id=group_id)  # type: ignore[arg-type]


def counted_ballots() -> int:
    with db.session() as s:
        return len(s.exec(select(Ballot.id)).all())


def boxed_ballots() -> int:
    """Ballots still sealed in the 票箱, every group's."""
    with db.session() as s:
        return s.exec(select(func.count()).select_from(BallotBox)).one()


def state_of(round_id: int, name: str) -> evaluation.GroupState:
    with db.session() as s:
        return next(
            g for g in evaluation.status(session=s, round_id=round_id) if g.group_name == name
        )


def open_page() -> AppTest:
    at = logged_in(AppTest.from_file(PAGE, default_timeout=60)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, starts: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(starts))


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def published(round_id: int) -> bool:
    with db.session() as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        return round_.results_published


def test_the_screen_shows_each_group_submitted_of_expected_and_no_results(round_id: int) -> None:
    vote(round_id, 2)
    at = open_page()
    assert at.title[0].value.startswith("2026年第四季度")
    assert metric(at, STAFF) == "2 / 60"
    assert metric(at, "基层单位工作人员") == "0 / 80"
    assert metric(at, "市场经营户") == "0 / 200"
    assert metric(at, "合计") == "2 / 340"
    assert any(view.HIDDEN in i.value for i in at.info)
    assert not at.tabs
    assert [list(d.value.columns) for d in at.dataframe] == [["群体", "时间", "累计提交"]]
    # The two ballots wait sealed in the box: the office can end the group's evaluation.
    assert [b.label for b in at.sidebar.button] == [
        "公布结果",
        f"结束「{STAFF}」评议并开箱计票",
    ]
    assert "评议中 · 票箱 2 票(结束评议后开箱计票)" in [c.value for c in at.caption]


def test_publish_shows_ranked_results_per_category_and_hide_hides_them(round_id: int) -> None:
    vote(round_id, 5)  # the round's minimum: 局全体工作人员 has numbers once counted
    at = open_page()
    button(at, f"结束「{STAFF}」评议并开箱计票").click().run()
    assert any("确定现在结束吗" in w.value for w in at.sidebar.warning)
    assert counted_ballots() == 0  # nothing happens before 确定
    button(at, "确定开箱计票").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert counted_ballots() == 5
    assert f"「{STAFF}」已开箱计票:5 票计入结果(一刀切 0 票)" in [
        m.value for m in at.sidebar.success
    ]
    assert "已开箱计票 · 计入 5 票" in [c.value for c in at.caption]
    assert f"{STAFF}:已开箱计票,5 票" in [c.value for c in at.sidebar.caption]
    assert [b.label for b in at.sidebar.button] == ["公布结果"]  # no second close
    assert boxed_ballots() == 0
    counted = state_of(round_id, STAFF)
    assert (counted.counted, counted.sealed, counted.ballots, counted.in_box) == (True, True, 5, 0)
    with db.session() as s:
        (event,) = audit.events(session=s, action="开箱计票")
    # Logged under the office's own name, as every other action of theirs on the page.
    assert event.actor == OFFICE and event.detail.endswith(f"{STAFF}:5 票(一刀切 0 票)")

    button(at, "公布结果").click().run()
    assert not at.exception
    assert published(round_id)
    assert not any(view.HIDDEN in i.value for i in at.info)
    assert [t.label for t in at.tabs] == ["党组织", "领导班子", "党员领导干部", "普通党员"]
    # The first tab, 党组织: no group rates branches in the demo rules' 群众评议 yet.
    at.session_state[view.CATEGORY] = "党员领导干部"
    at.run()
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["名次", "评议对象", "所在党支部"]
    staff_rated = table[table["综合得分"] != view.INSUFFICIENT_TEXT]
    assert len(staff_rated) == 7 and (staff_rated["名次"] != "—").all()
    # The 7 班子成员 each get 54 × 好 and one 较好 from all five ballots: tied at the top.
    assert set(staff_rated["名次"]) == {"1"}
    assert set(staff_rated["等级"]) == {"优秀"}
    assert [b.label for b in at.sidebar.button] == ["隐藏结果"]

    button(at, "隐藏结果").click().run()
    assert not at.exception
    assert not published(round_id)
    assert any(view.HIDDEN in i.value for i in at.info)
    assert not at.tabs
    assert [list(d.value.columns) for d in at.dataframe] == [["群体", "时间", "累计提交"]]


def test_a_group_below_the_minimum_shows_insufficient_never_numbers(round_id: int) -> None:
    vote(round_id, 4)  # one short of the minimum
    count_staff(round_id)
    with db.transaction() as s:
        meeting.publish(actor="测试", session=s, round_id=round_id, published=True)
    at = open_page()
    at.session_state[view.CATEGORY] = "领导班子"
    at.run()
    table = at.dataframe[0].value
    assert list(table["综合得分"]) == [view.INSUFFICIENT_TEXT]
    assert table["好评率"].isna().all()
    text = "\n".join(m.value for m in at.markdown)
    assert "有效票少于 5 张" in text
    assert "评议群体的有效票数不足" in text  # the drill-down: no figures either
    assert not [m for m in at.metric if m.label in ("综合得分", "好评率")]


def test_the_drill_down_keeps_its_target_across_refreshes(round_id: int) -> None:
    vote(round_id, 5)
    count_staff(round_id)
    with db.transaction() as s:
        meeting.publish(actor="测试", session=s, round_id=round_id, published=True)
    at = open_page()
    at.session_state[view.CATEGORY] = "党员领导干部"
    at.run()
    key = f"{view.TARGET}leader"
    at.selectbox(key=key).select_index(2).run()
    chosen = at.selectbox(key=key).value
    name = at.selectbox(key=key).options[2].split(" · ")[1].split("(")[0]
    # A ballot of another group arrives (局全体工作人员 is counted and closed); the next
    # refresh redraws everything.
    vote(round_id, 1, group=GroupKey.UNIT_STAFF)
    at.run()
    assert not at.exception
    assert at.selectbox(key=key).value == chosen
    assert f"### {name}" in [m.value for m in at.markdown]
    assert metric(at, STAFF) == "5 / 60"
    assert metric(at, "基层单位工作人员") == "1 / 80"
    detail = {m.label: m.value for m in at.metric}
    assert detail["等级"] == "优秀" and detail["名次"] == "1"
    # Seven criteria per leader, every level listed: the chart has a bar per criterion.
    assert at.get("plotly_chart")


def test_cancel_counts_nothing_and_a_group_without_ballots_has_no_button(round_id: int) -> None:
    vote(round_id, 2)
    with db.transaction() as s:  # 市场经营户 have their slips, and nobody has voted yet
        vendors = groups.by_key(session=s)[GroupKey.VENDORS].id
        codes.issue(actor="测试", session=s, round_id=round_id, group_id=vendors, count=3)  # type: ignore[arg-type]
    at = open_page()
    assert "市场经营户:评议中,尚无投票" in [c.value for c in at.sidebar.caption]
    assert [b.label for b in at.sidebar.button if "市场经营户" in b.label] == []
    button(at, f"结束「{STAFF}」评议并开箱计票").click().run()
    button(at, "取消").click().run()
    assert not at.exception
    assert counted_ballots() == 0
    assert not at.sidebar.warning
    assert f"结束「{STAFF}」评议并开箱计票" in [b.label for b in at.sidebar.button]
    with db.session() as s:
        assert tally.participation(session=s, round_id=round_id) == {}
        assert audit.events(session=s, action="开箱计票") == []


def test_confirming_counts_only_the_group_asked_and_the_other_keeps_voting(
    round_id: int,
) -> None:
    vote(round_id, 3)
    vote(round_id, 2, group=GroupKey.UNIT_STAFF)
    unit = "基层单位工作人员"
    at = open_page()
    assert [b.label for b in at.sidebar.button][1:] == [
        f"结束「{STAFF}」评议并开箱计票",
        f"结束「{unit}」评议并开箱计票",
    ]
    button(at, f"结束「{unit}」评议并开箱计票").click().run()
    # The confirmation names the group and its cast ballots; the other group keeps its button.
    (warning,) = at.sidebar.warning
    assert f"「{unit}」" in warning.value and "2 张评议票" in warning.value
    assert f"结束「{STAFF}」评议并开箱计票" in [b.label for b in at.sidebar.button]
    button(at, "确定开箱计票").click().run()
    assert not at.exception, [e.value for e in at.exception]

    assert (counted_ballots(), boxed_ballots()) == (2, 3)
    assert state_of(round_id, unit).counted and not state_of(round_id, STAFF).counted
    assert [m.value for m in at.sidebar.success] == [
        f"「{unit}」已开箱计票:2 票计入结果(一刀切 0 票)"
    ]
    assert not at.sidebar.warning
    assert [b.label for b in at.sidebar.button] == ["公布结果", f"结束「{STAFF}」评议并开箱计票"]
    captions = [c.value for c in at.caption]
    assert "已开箱计票 · 计入 2 票" in captions
    assert "评议中 · 票箱 3 票(结束评议后开箱计票)" in captions
    with db.session() as s:
        assert tally.participation(session=s, round_id=round_id) == {
            state_of(round_id, unit).group_id: (2, 0)
        }

    # The success is said once: the next refresh of the page no longer shows it.
    at.run()
    assert not at.sidebar.success


def test_a_group_counted_before_the_page_opened_shows_its_count_and_no_button(
    round_id: int,
) -> None:
    vote(round_id, 4)
    count_staff(round_id)  # from the command line, or another office computer
    at = open_page()
    assert f"{STAFF}:已开箱计票,4 票" in [c.value for c in at.sidebar.caption]
    assert "已开箱计票 · 计入 4 票" in [c.value for c in at.caption]
    assert [b.label for b in at.sidebar.button] == ["公布结果"]
    assert metric(at, STAFF) == "4 / 60"


def test_a_box_that_cannot_be_opened_says_why_and_counts_nothing(
    round_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    vote(round_id, 2)
    at = open_page()
    button(at, f"结束「{STAFF}」评议并开箱计票").click().run()
    # The server now runs with another PINGYI_SECRET_KEY than the one the box was sealed with.
    other = box.key_of(b"another-secret")
    monkeypatch.setattr(box, "_box_cipher", lambda: box.AESGCM(other))
    button(at, "确定开箱计票").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("PINGYI_SECRET_KEY" in e.value for e in at.sidebar.error)
    assert not at.sidebar.success
    assert (counted_ballots(), boxed_ballots()) == (0, 2)
    assert not state_of(round_id, STAFF).counted
    with db.session() as s:
        assert audit.events(session=s, action="开箱计票") == []
    # Nothing was counted, so the office can try again once the key is put right: the next
    # refresh offers the group's button again.
    at.run()
    assert f"结束「{STAFF}」评议并开箱计票" in [b.label for b in at.sidebar.button]


# ---- the projected view: /meeting?screen=1


def projected(round_id: int | None = None) -> AppTest:
    at = logged_in(AppTest.from_file(PAGE, default_timeout=60))
    at.query_params[view.SCREEN] = "1"
    if round_id is not None:
        at.query_params["round"] = str(round_id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_projected_view_has_no_controls_and_shows_the_qr_while_a_group_votes(
    round_id: int,
) -> None:
    at = projected()
    assert not at.sidebar.children, "nothing in the sidebar"
    labels = {b.label for b in at.button}
    assert not labels & {"公布结果", "隐藏结果"}
    assert not [b for b in at.button if b.label.startswith("结束")]
    assert at.title[0].value.startswith("2026年第四季度")
    assert view.SCAN not in [m.value.strip("*") for m in at.markdown], "no code issued yet"

    vote(round_id, 2)  # codes issued and used: 局全体工作人员 is voting
    at = projected()
    assert f"**{view.SCAN}**" in [m.value for m in at.markdown]
    assert at.get("image"), "the ballot page's QR code"
    assert any(c.value.startswith("http") and c.value.endswith("/ballot") for c in at.code)
    assert any("正在评议:局全体工作人员" in c.value for c in at.caption)

    count_staff(round_id)  # counted: no group votes any more, the QR goes
    at = projected()
    assert f"**{view.SCAN}**" not in [m.value for m in at.markdown]


def test_the_office_view_links_to_the_projected_view(round_id: int) -> None:
    at = open_page()
    (link,) = [b for b in at.get("link_button") if b.proto.label == "打开投影画面"]
    assert link.proto.url == f"meeting?screen=1&round={round_id}"
    assert {b.label for b in at.button} >= {"公布结果"}


def test_the_app_draws_no_menu_or_sidebar_around_the_projected_view(round_id: int) -> None:
    app = Path(__file__).resolve().parents[2] / "app.py"
    at = logged_in(AppTest.from_file(app, default_timeout=60)).run()
    at.switch_page("pages/meeting.py").run()
    assert at.sidebar.children, "the office's view: menu, who is logged in, 大屏控制"
    at.query_params[view.SCREEN] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.sidebar.children
    assert at.title[0].value.startswith("2026年第四季度")
