"""开展点评: the reviewer's worklist with progress; for one target its 自我小结 and 公开承诺 beside
the form, the guidance of 方案 五.4, a score per criterion and the four comments."""

from datetime import date, timedelta

import streamlit as st

from pingyi import db, reviews, rounds, summaries, ui
from pingyi.auth import Role
from pingyi.models import STEP_LABELS, Commitment, Review, Round, Step, Summary
from pingyi.reviews import ReviewForm, ReviewState
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require(Role.REVIEWER)

COMMENTS = (
    ("achievements", "肯定成绩", "充分肯定取得的成绩(提交时必填)"),
    ("problems", "指出问题", "指出存在的问题和不足"),
    ("direction", "明确方向", "明确今后努力的方向(提交时必填)"),
    ("requirements", "整改要求", "每行一条,提交后每条生成一项整改事项"),
)
STATE_ICONS = {
    ReviewState.NOT_STARTED: "○",
    ReviewState.DRAFT: "◐",
    ReviewState.SUBMITTED: "●",
}


def work_label(item: reviews.WorkItem) -> str:
    """○ 名称 · 类别 · 党支部(状态); a branch is not named twice."""
    parts = [item.name, item.category]
    if item.branch_name and item.branch_name != item.name:
        parts.append(item.branch_name)
    return f"{STATE_ICONS[item.state]} {' · '.join(parts)}({item.state})"


def lines(text: str) -> str:
    """Escaped text with its line breaks kept."""
    return "  \n".join(md_escape(line) for line in text.splitlines())


def show_summary(summary: Summary | None, commitments: list[Commitment]) -> None:
    st.markdown("**自我小结**")
    # A draft is still being written: reviewers read what the writer has submitted.
    if summary is None or not summary.submitted:
        st.caption("尚未提交自我小结。")
    else:
        for label, text in (
            ("成绩", summary.achievements),
            ("问题", summary.problems),
            ("原因", summary.causes),
        ):
            if text:
                st.markdown(f"**{label}:**  \n{lines(text)}")
    st.markdown("**公开承诺**")
    if not commitments:
        st.caption("没有公开承诺。")
    for commitment in commitments:
        evidence = f"  \n佐证:{lines(commitment.evidence)}" if commitment.evidence else ""
        st.markdown(f"- 【{commitment.status}】{md_escape(commitment.text)}{evidence}")


def show_form(round_: Round, shown: ReviewForm, review: Review | None, editable: bool) -> None:
    round_id: int = round_.id
    target_id: int = shown.target.id
    st.info(shown.guidance, icon=":material/lightbulb:")
    # Radio labels and options are Markdown: criteria and levels are the office's free text.
    labels = {level.id: md_escape(level.label) for level in shown.levels}
    stored = review.scores if review else {}
    prefix = f"review_{round_id}_{target_id}"
    with st.form(f"{prefix}_form", enter_to_submit=False, border=False):
        st.markdown(f"**测评项目**({md_escape(shown.category)})")
        scores: dict[int, int | None] = {}
        for criterion in shown.criteria:
            options = list(labels)
            chosen = stored.get(str(criterion.id))
            scores[criterion.id] = st.radio(
                md_escape(criterion.name),
                options,
                index=options.index(chosen) if chosen in options else None,
                format_func=labels.__getitem__,
                horizontal=True,
                disabled=not editable,
                key=f"{prefix}_score_{criterion.id}",
            )
        texts = {
            name: st.text_area(
                label,
                value=getattr(review, name) if review else "",
                placeholder=hint,
                max_chars=reviews.COMMENT_MAX,
                disabled=not editable,
                key=f"{prefix}_{name}",
            )
            for name, label, hint in COMMENTS
        }
        deadline = st.date_input(
            "整改期限",
            value=(review.deadline if review and review.deadline else None)
            or date.today() + timedelta(days=reviews.DEFAULT_DEADLINE_DAYS),
            format="YYYY-MM-DD",
            disabled=not editable,
            key=f"{prefix}_deadline",
        )
        left, right, _ = st.columns([1, 1, 3])
        draft = left.form_submit_button("保存草稿", disabled=not editable, icon=":material/save:")
        submit = right.form_submit_button(
            "提交", type="primary", disabled=not editable, icon=":material/send:"
        )
    if editable and (draft or submit):
        save(round_, target_id, scores, texts, deadline, submit=submit)


def save(
    round_: Round,
    target_id: int,
    scores: dict[int, int | None],
    texts: dict[str, str],
    deadline: date | None,
    *,
    submit: bool,
) -> None:
    try:
        with db.transaction(ui.engine()) as s:
            reviews.save(
                session=s,
                round_id=round_.id,
                reviewer_id=reviewer_id,
                target_id=target_id,
                scores={cid: lid for cid, lid in scores.items() if lid is not None},
                deadline=deadline,
                submit=submit,
                achievements=texts["achievements"],
                problems=texts["problems"],
                direction=texts["direction"],
                requirements=texts["requirements"],
            )

    except reviews.ReviewError as exc:
        st.error(str(exc))
    else:
        flash("已提交点评。" if submit else "已保存草稿。")
        st.rerun()


def reopen(round_: Round, target_id: int) -> None:
    try:
        with db.transaction(ui.engine()) as s:
            reviews.reopen(
                session=s,
                round_id=round_.id,
                reviewer_id=reviewer_id,
                target_id=target_id,
            )
    except reviews.ReviewError as exc:
        st.error(str(exc))
    else:
        flash("已重新打开,修改后请再次提交。")
        st.rerun()


st.title("开展点评")
st.caption(
    "按本轮评议关系,对每个点评对象逐项评价,并写明肯定成绩、指出问题、明确方向和整改要求;"
    "提交后,整改要求逐条生成整改事项,由被点评对象落实。"
)

engine = ui.engine()
with db.session(engine) as s:
    round_ = rounds.current(session=s)
if round_ is None:
    st.info("目前没有进行中的评议轮次。")
    st.stop()
if user.member_id is None:
    st.info("您的账号没有对应的党员,没有点评任务。")
    st.stop()
reviewer_id: int = user.member_id

round_id: int = round_.id
with db.session(engine) as s:
    work = reviews.worklist(session=s, round_id=round_id, reviewer_id=user.member_id)

step = Step(round_.step)
is_open = step == Step.REVIEW
st.markdown(f"**{md_escape(round_.name)}** · 当前阶段:{STEP_LABELS[step]}")
if not is_open:
    st.info(
        f"当前处于「{STEP_LABELS[step]}」阶段:点评只能在「{STEP_LABELS[Step.REVIEW]}」阶段填写、"
        "提交和重新打开,现在只能查看。",
        icon=":material/lock:",
    )
if not work:
    st.info("按本轮评议关系,您没有需要点评的对象。")
    st.stop()

done = sum(1 for item in work if item.state == ReviewState.SUBMITTED)
st.progress(done / len(work), text=f"已提交 {done} / {len(work)}")
show_flash()

by_id = {item.target_id: item for item in work}
first_open = next((n for n, i in enumerate(work) if i.state != ReviewState.SUBMITTED), 0)
target_id = st.selectbox(
    "点评对象",
    list(by_id),
    index=first_open,
    format_func=lambda i: work_label(by_id[i]),
    # A new key once a review is submitted: the list shows the new states and moves on to
    # the next target not yet submitted.
    key=f"review_target_{round_id}_{done}",
)

with db.session(engine) as s:
    shown = reviews.form(session=s, round_id=round_id, target_id=target_id)
    review = reviews.review_of(
        session=s, round_id=round_id, reviewer_id=user.member_id, target_id=target_id
    )
    summary = summaries.summary_of(session=s, target_id=target_id)
    commitments = summaries.commitments_of(session=s, target_id=target_id)

submitted = review is not None and review.submitted
if submitted:
    st.success("这份点评已提交。" + ("如需修改,请先重新打开。" if is_open else ""))
    if is_open and st.button("重新打开", icon=":material/edit:", key=f"review_reopen_{target_id}"):
        reopen(round_, target_id)

left, right = st.columns([2, 3], gap="large")
with left, st.container(border=True):
    show_summary(summary, commitments)
with right:
    show_form(round_, shown, review, editable=is_open and not submitted)
