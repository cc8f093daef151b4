"""我收到的点评 in AppTest: a member sees the submitted 领导点评 of them (reviewer, scores per
criterion, the four comments, shown as typed) and their 整改 items; never a draft; the office,
which is no member, is refused."""

from __future__ import annotations

from pathlib import Path

from apptools import current_round_id, member_accounts, party_secretary, set_step
from sqlmodel import select

from pingyi import db, reviews
from pingyi.models import Member, Step, Target
from pingyi.ui.auth import MSG_NO_ACCESS

PAGE = "pages/my_reviews.py"
PROBLEMS = "*主动性*不够 [链接](http://x)"


def reviewed_member(*, submit: bool = True) -> Member:
    """The first 普通党员 of the 党组书记's worklist, reviewed by him (all 较好)."""
    set_step(Step.REVIEW)
    secretary = party_secretary()
    round_id = current_round_id()
    with db.transaction() as s:
        work = reviews.worklist(session=s, round_id=round_id, reviewer_id=secretary.id)  # type: ignore[arg-type]
        target_id = next(w.target_id for w in work if w.category == "普通党员")
        shown = reviews.form(session=s, round_id=round_id, target_id=target_id)
        reviews.save(
            session=s,
            round_id=round_id,
            reviewer_id=secretary.id,  # type: ignore[arg-type]
            target_id=target_id,
            scores={c.id: shown.levels[1].id for c in shown.criteria},
            achievements="工作认真负责",
            problems=PROBLEMS,
            direction="多到一线",
            requirements="每月走访服务对象",
            submit=submit,
        )
        target = s.get(Target, target_id)
        member = s.exec(select(Member).where(Member.id == target.member_id)).one()  # type: ignore[union-attr]
    return member


def test_a_member_sees_the_review_of_them_and_their_items(demo_db: Path, open_page):
    member_accounts()
    member = reviewed_member()
    at = open_page(PAGE, as_=member.roster_id)
    assert at.title[0].value == "我收到的点评"
    markdown = "\n".join(m.value for m in at.markdown)
    assert f"点评领导:{party_secretary().name}" in markdown
    assert "工作认真负责" in markdown and "多到一线" in markdown
    assert r"\*主动性\*不够 \[链接\]\(http\://x\)" in markdown, "shown as typed"
    assert "点评得分 80.00" in markdown
    scores = at.dataframe[0].value
    assert list(scores.columns) == ["测评项目", "评价"]
    assert set(scores["评价"]) == {"较好"} and len(scores) == 6
    assert "每月走访服务对象" in markdown and "【未开始】" in markdown


def test_a_draft_is_not_shown(demo_db: Path, open_page):
    member_accounts()
    member = reviewed_member(submit=False)
    at = open_page(PAGE, as_=member.roster_id)
    assert any(c.value == "本轮还没有已提交的领导点评。" for c in at.caption)
    assert any(c.value == "没有需要您落实的整改事项。" for c in at.caption)
    assert "工作认真负责" not in "\n".join(m.value for m in at.markdown)


def test_the_office_is_refused(demo_db: Path, open_page):
    at = open_page(PAGE)
    assert [e.value for e in at.main.error] == [MSG_NO_ACCESS]
    assert not at.main.title and not at.main.dataframe and not at.main.markdown
