"""评分设置: a round's weights, grade thresholds, minimum ballots and 一刀切 rule; frozen once
its results are published."""

import streamlit as st

from pingyi import db, groups, rounds, scoring, ui
from pingyi.auth import Role
from pingyi.models import Round
from pingyi.scoring import ScoringError, ScoringSettings
from pingyi.ui import auth as login
from pingyi.ui import results as view
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.picker import pick_round
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require(Role.ADMIN)

FROZEN = "结果已公布,评分设置已冻结"

st.title("评分设置")
st.caption(
    "每轮评议各有一套评分设置,用于计算本轮的群众得分、综合得分和等级;"
    "本轮结果公布后,评分设置即冻结,不能再修改。"
)

engine = ui.engine()
with db.session(engine) as s:
    all_rounds = rounds.list_rounds(session=s)
    current = rounds.current(session=s)
    evaluator_groups = groups.all_groups(session=s)

if not all_rounds:
    st.info("还没有评议轮次:请先创建评议轮次。")
    st.stop()

round_ = pick_round(all_rounds, current, key="settings_round")
round_id: int = round_.id
frozen = round_.results_published

show_flash()
try:
    stored = ScoringSettings.from_round(round_)
except ScoringError as exc:
    st.error(f"{exc}。下表为默认设置,保存后替换。")
    stored = ScoringSettings()
if frozen:
    st.info(FROZEN, icon=":material/lock:")

# Keys carry the round: another round's form starts from that round's own settings.
prefix = f"settings_{round_id}"
with st.form(f"{prefix}_form", enter_to_submit=False):
    st.markdown("**综合得分权重**(两项之和为 100%)")
    left, right = st.columns(2)
    leader = left.number_input(
        "领导点评权重(%)",
        min_value=0.0,
        max_value=100.0,
        value=round(stored.leader_weight * 100, 4),
        step=5.0,
        format="%g",
        disabled=frozen,
        key=f"{prefix}_leader",
    )
    mass = right.number_input(
        "群众评议权重(%)",
        min_value=0.0,
        max_value=100.0,
        value=round(stored.mass_weight * 100, 4),
        step=5.0,
        format="%g",
        disabled=frozen,
        key=f"{prefix}_mass",
    )

    st.markdown("**各评议群体的权重**(相对权重;都相同即各群体平均计入群众得分)")
    group_columns = st.columns(max(len(evaluator_groups), 1))
    group_weights = {
        group.id: column.number_input(
            group.name,
            min_value=0.0,
            value=stored.group_weight(group.id),
            step=0.5,
            format="%g",
            disabled=frozen,
            key=f"{prefix}_group_{group.id}",
        )
        for group, column in zip(evaluator_groups, group_columns, strict=False)
    }

    st.markdown("**等级分数线**(综合得分不低于分数线即为该等级)")
    *graded, (lowest, _) = stored.grades
    grade_columns = st.columns(max(len(graded), 1))
    minimums = [
        column.number_input(
            f"{name}(分)",
            min_value=0.0,
            max_value=100.0,
            value=float(minimum),
            step=1.0,
            format="%g",
            disabled=frozen,
            key=f"{prefix}_grade_{position}",
        )
        for position, ((name, minimum), column) in enumerate(
            zip(graded, grade_columns, strict=False)
        )
    ]
    st.caption(f"低于最低一档分数线的为「{md_escape(lowest)}」。")

    st.markdown("**有效票**")
    ballots_column, uniform_column = st.columns(2, vertical_alignment="bottom")
    minimum_ballots = ballots_column.number_input(
        "每个评议群体的最少有效票数",
        min_value=1,
        value=stored.min_ballots,
        step=1,
        disabled=frozen,
        key=f"{prefix}_min_ballots",
        help="少于此数的评议群体只显示「样本不足」,不计入得分,其意见建议也不显示",
    )
    drop_uniform = uniform_column.checkbox(
        "剔除一刀切票(所有项目选同一等级的票不计入得分)",
        value=stored.drop_uniform,
        disabled=frozen,
        key=f"{prefix}_drop_uniform",
    )
    buttons = st.columns([1, 1, 4])
    preview = buttons[0].form_submit_button("预览", disabled=frozen, icon=":material/visibility:")
    save = buttons[1].form_submit_button(
        "保存", type="primary", disabled=frozen, icon=":material/save:"
    )

weights = list(group_weights.values())
# Equal weights are stored as "equal", so a group added later weighs the same as the others.
equal = bool(weights) and all(w == weights[0] for w in weights) and weights[0] > 0
entered = ScoringSettings(
    leader_weight=leader / 100,
    mass_weight=mass / 100,
    group_weights=None if equal else group_weights,
    grades=(*zip((name for name, _ in graded), minimums, strict=True), (lowest, 0.0)),
    min_ballots=int(minimum_ballots),
    drop_uniform=drop_uniform,
)

if save and not frozen:
    try:
        with db.transaction(engine) as s:
            row = s.get(Round, round_id)
            if row is None:
                raise ScoringError("找不到该评议轮次")
            scoring.save_settings(session=s, round_=row, settings=entered, actor=user.name)
    except ValueError as exc:  # ScoringError: in Chinese, for the office
        st.error(str(exc))
    else:
        flash(f"已保存「{md_escape(round_.name)}」的评分设置。")
        st.rerun()

try:
    with db.session(engine) as s:
        now = scoring.round_results(session=s, round_id=round_id, with_change=False)
except ValueError as exc:
    st.error(str(exc))
else:
    if now.targets:
        st.caption(f"按当前设置:{view.grade_counts_text(view.grade_counts(now))}。")

if preview and not frozen:
    try:
        with db.session(engine) as s:
            after = scoring.round_results(
                session=s, round_id=round_id, settings=entered, with_change=False
            )
    except ValueError as exc:
        st.error(str(exc))
    else:
        st.info(f"按新设置:{view.grade_counts_text(view.grade_counts(after))}(尚未保存)。")
