"""测评内容: the criteria, rating scale and rules of the office's defaults (what new rounds copy)
or of a round still in 筹备, and the evaluator groups' headcounts. An opened round is frozen:
its content is shown read-only."""

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
from sqlmodel import Session

from pingyi import criteria, db, groups, rounds, rules, ui
from pingyi.auth import Role
from pingyi.groups import GROUP_LABELS
from pingyi.models import (
    STEP_LABELS,
    TEMPLATE_LABELS,
    FormKind,
    GroupKey,
    Round,
    Step,
    TemplateKey,
)
from pingyi.ui import auth as login
from pingyi.ui import tables
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.text import bullets, md_escape

ui.through_app()
user = login.require(Role.ADMIN)

# Bumped after each save: every input gets a new key and starts again from what is stored
# (a data_editor would otherwise replay its edits on top of the saved table).
VERSION = "criteria_version"
DEFAULTS = 0  # the selectbox's value for the office's defaults; other values are round ids
LEVEL, SCORE = "等级", "分数"
KIND, WHO, TARGETS = "种类", "点评人或评议群体", "对象"
UNSCORED = "不计分"

st.title("测评内容")
st.caption(
    "测评项目、评价等级和评议规则:「办公室默认设置」是新建轮次时复制的内容;"
    "筹备中的轮次有自己的一份,可单独修改;轮次开启后即冻结,只能查看。"
)

engine = ui.engine()
with db.session(engine) as s:
    all_rounds = rounds.list_rounds(session=s)
by_id: dict[int, Round] = {r.id: r for r in all_rounds}


def _option_label(option: int) -> str:
    if option == DEFAULTS:
        return "办公室默认设置(新建轮次时复制)"
    round_ = by_id[option]
    return f"{round_.name}({STEP_LABELS[Step(round_.step)]})"


choice: int = st.selectbox(
    "修改哪一套测评内容", [DEFAULTS, *by_id], format_func=_option_label, key="criteria_target"
)
round_ = by_id.get(choice)
round_id = None if round_ is None else round_.id
editable = criteria.is_editable(round_)
where = criteria.place(round_)
prefix = f"criteria_{choice}_{st.session_state.get(VERSION, 0)}"

show_flash()
if round_ is not None and not editable:
    st.info(md_escape(criteria.frozen_message(round_)), icon=":material/lock:")


def save(what: str, change: Callable[[Session], object]) -> None:
    """One change (it logs itself) in one transaction; a Chinese error leaves it out."""
    try:
        with db.transaction(engine) as s:
            change(s)
    except ValueError as exc:  # CriteriaError, RoundError, HeadcountError: for the office
        st.error(md_escape(str(exc)))
    else:
        flash(f"已保存{md_escape(what)}。")
        st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1
        st.rerun()


def blank(value: Any) -> bool:
    """An empty cell: None, NaN or pandas' NA, as a data_editor leaves it."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def text(value: Any) -> str:
    return "" if blank(value) else str(value).strip()


def lines(typed: str) -> list[str]:
    """One criterion per line; blank lines are spacing, not items."""
    return [line.strip() for line in typed.splitlines() if line.strip()]


# ---- 测评项目


def criteria_tab() -> None:
    with db.session(engine) as s:
        names = criteria.criteria_names(session=s, round_id=round_id)
    st.caption("每行一项,按行的顺序显示。每套至少一项,每项不超过 100 个字,同一套内不能重复。")
    with st.form(f"{prefix}_criteria_form", enter_to_submit=False):
        columns = st.columns(2)
        typed = {
            key: columns[index % 2].text_area(
                TEMPLATE_LABELS[key],
                "\n".join(names[key]),
                height=220,
                disabled=not editable,
                key=f"{prefix}_criteria_{key.value}",
            )
            for index, key in enumerate(TemplateKey)
        }
        submitted = st.form_submit_button(
            "保存测评项目", type="primary", disabled=not editable, icon=":material/save:"
        )
    if submitted:
        wanted = {key: lines(value) for key, value in typed.items()}

        def change(s: Session) -> object:
            return criteria.replace_criteria(
                session=s, round_id=round_id, names=wanted, actor=user.name
            )

        save(f"{where}的测评项目", change)


# ---- 评价等级


def scale_frame(levels: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            LEVEL: pd.Series([lv.label for lv in levels], dtype="object"),
            SCORE: pd.Series([lv.score for lv in levels], dtype="float64"),
        }
    )


def scale_rows(frame: pd.DataFrame) -> list[tuple[str, float | None]]:
    """The edited table as (label, score); wholly empty rows (a row added, then left) go."""
    rows = []
    for label, score in zip(frame[LEVEL], frame[SCORE], strict=True):
        if text(label) or not blank(score):
            rows.append((text(label), None if blank(score) else float(score)))
    return rows


def scale_tab() -> None:
    with db.session(engine) as s:
        frame = scale_frame(criteria.scale(session=s, round_id=round_id))
    st.caption(
        "分数在 0 到 100 之间,计分的等级按分数从高到低排列;"
        "分数留空的等级(如「不了解」)只记录、不计分,最多一个。"
    )
    if not editable:
        shown = frame.assign(**{SCORE: [UNSCORED if blank(v) else f"{v:g}" for v in frame[SCORE]]})
        st.dataframe(shown, hide_index=True)
        return
    with st.form(f"{prefix}_scale_form", enter_to_submit=False):
        edited = st.data_editor(
            frame,
            num_rows="dynamic",
            hide_index=True,
            column_config={
                LEVEL: st.column_config.TextColumn(LEVEL, max_chars=criteria.MAX_LEVEL_CHARS),
                SCORE: st.column_config.NumberColumn(
                    SCORE, min_value=0, max_value=100, step=1, help="留空即为不计分的等级"
                ),
            },
            key=f"{prefix}_scale",
        )
        submitted = st.form_submit_button("保存评价等级", type="primary", icon=":material/save:")
    if submitted:
        levels = scale_rows(edited)

        def change(s: Session) -> object:
            return criteria.replace_scale(
                session=s, round_id=round_id, levels=levels, actor=user.name
            )

        save(f"{where}的评价等级", change)


# ---- 评议规则


def rules_frame(stored: list[rules.Rule]) -> pd.DataFrame:
    return pd.DataFrame(
        [rounds.rule_labels(rule) for rule in stored], columns=[KIND, WHO, TARGETS], dtype="object"
    )


def rule_rows(frame: pd.DataFrame) -> list[tuple[str | None, str | None, str | None]]:
    return [
        (text(kind) or None, text(who) or None, text(targets) or None)
        for kind, who, targets in zip(frame[KIND], frame[WHO], frame[TARGETS], strict=True)
    ]


def rules_tab() -> None:
    with db.session(engine) as s:
        frame = rules_frame(rounds.rules_of(session=s, round_id=round_id))
    st.caption(
        "规则按顺序生效:同一对象已由前面的规则安排了点评人(或评议群体)的,后面的规则不再安排。"
    )
    if not editable:
        st.dataframe(frame, hide_index=True)
        return
    with st.form(f"{prefix}_rules_form", enter_to_submit=False):
        edited = st.data_editor(
            frame,
            num_rows="dynamic",
            hide_index=True,
            column_config={
                KIND: st.column_config.SelectboxColumn(
                    KIND, options=list(rounds.RULE_KIND_LABELS.values())
                ),
                WHO: st.column_config.SelectboxColumn(
                    WHO,
                    options=[*rules.REVIEWER_LABELS.values(), *GROUP_LABELS.values()],
                    help="领导点评选点评人,群众评议选评议群体",
                ),
                TARGETS: st.column_config.SelectboxColumn(
                    TARGETS, options=list(rules.TARGETS_LABELS.values())
                ),
            },
            key=f"{prefix}_rules",
        )
        submitted = st.form_submit_button("保存评议规则", type="primary", icon=":material/save:")
    if submitted:
        rows = rule_rows(edited)

        def change(s: Session) -> object:
            new_rules = rounds.rules_from_labels(rows)
            return rounds.save_rules(
                session=s, round_id=round_id, new_rules=new_rules, actor=user.name
            )

        save(f"{where}的评议规则", change)
    rules_preview()


def rules_preview() -> None:
    """What the stored rules give on today's roster: the office checks it before opening."""
    st.subheader("按当前名册预览")
    with db.session(engine) as s:
        people = rounds.current_roster(session=s)
        result = rounds.preview(session=s, round_=round_)
    if not people.people:
        st.caption("名册是空的:导入名册后,这里显示按上述规则得出的评议关系。")
        return
    columns = st.columns(3)
    columns[0].metric("评议对象", len(result.targets))
    columns[1].metric("领导点评", len(result.leader))
    columns[2].metric("群众评议", len(result.mass))
    left, right = st.columns(2)
    left.dataframe(
        tables.counts_frame(
            result.leader_counts(), label="点评人", every=list(rules.REVIEWER_LABELS.values())
        ),
        hide_index=True,
    )
    right.dataframe(
        tables.counts_frame(
            result.mass_counts(), label="评议群体", every=list(GROUP_LABELS.values())
        ),
        hide_index=True,
    )
    if result.problems:
        st.warning(
            f"按这些规则有 {len(result.problems)} 个问题,请在开启轮次前处理:\n\n"
            + bullets(problem.message for problem in result.problems)
        )
    else:
        st.success("评议关系完整,没有发现问题")
    st.page_link("pages/relations.py", label="查看评议关系明细", icon=":material/account_tree:")


# ---- 各群体评议表: 分项 or 总体, the group's own scale, 不了解, comments

KIND_OPTIONS = {FormKind.ITEMIZED: "分项评议(逐项评价)", FormKind.OVERALL: "总体评议(每人一个评价)"}


def scale_text(form: criteria.GroupFormView) -> str:
    """The group's own scale as typed back into the box (满意=100,…); blank: the round's."""
    if not form.own_scale:
        return ""
    return ",".join(f"{lv.label}={lv.score:g}" for lv in form.scale if lv.score is not None)


def forms_tab() -> None:
    with db.session(engine) as s:
        forms = criteria.group_forms(session=s, round_id=round_id)
    st.caption(
        "每个评议群体可用不同的评议表:分项评议逐项评价每个测评项目(方案的默认做法);"
        "总体评议对每人只作一个总体评价,卡片上列出测评项目供参考,适合对评议对象了解不多的群体"
        "(如市场经营户)。评价等级留空则用本轮的评价等级;好评率按本群体最高的两个等级计算。"
    )
    st.dataframe(
        pd.DataFrame(
            [(f.group_name, f.describe()) for f in forms.values()], columns=["评议群体", "评议表"]
        ),
        hide_index=True,
    )
    if not editable:
        return
    for form in forms.values():
        group_form_editor(form)


def group_form_editor(form: criteria.GroupFormView) -> None:
    key = f"{prefix}_form_{form.group_id}"
    with st.expander(f"修改「{form.group_name}」的评议表"), st.form(key, enter_to_submit=False):
        kind = st.radio(
            "评议方式",
            list(KIND_OPTIONS),
            index=list(KIND_OPTIONS).index(form.kind),
            format_func=KIND_OPTIONS.__getitem__,
            horizontal=True,
            key=f"{key}_kind",
        )
        typed = st.text_input(
            "本群体自己的评价等级(从好到差,逗号分隔;可写分数)",
            value=scale_text(form),
            placeholder="留空:用本轮的评价等级。例如 满意,基本满意,不满意",
            key=f"{key}_scale",
        )
        unknown = st.checkbox("提供「不了解」", value=form.unknown, key=f"{key}_unknown")
        comments = st.checkbox("每张卡设意见建议栏", value=form.comments, key=f"{key}_comments")
        submitted = st.form_submit_button("保存评议表", type="primary", icon=":material/save:")
    if submitted:

        def change(s: Session) -> object:
            return criteria.set_group_form(
                session=s,
                round_id=round_id,
                group_id=form.group_id,
                kind=kind,
                scale_levels=criteria.parse_scale(typed) if typed.strip() else None,
                unknown=unknown,
                comments=comments,
                actor=user.name,
            )

        save(f"{where}「{form.group_name}」的评议表", change)


# ---- 评议群体人数


def headcounts_tab() -> None:
    with db.session(engine) as s:
        evaluator_groups = groups.all_groups(session=s)
    st.caption("各评议群体的应到人数,用于发放测评码和统计参与率;对所有轮次有效,随时可改。")
    with st.form(f"{prefix}_headcounts_form", enter_to_submit=False):
        columns = st.columns(max(len(evaluator_groups), 1))
        typed = {
            GroupKey(group.key): column.number_input(
                group.name,
                min_value=0,
                max_value=groups.MAX_HEADCOUNT,
                value=group.headcount,
                step=1,
                key=f"{prefix}_headcount_{group.key}",
            )
            for group, column in zip(evaluator_groups, columns, strict=False)
        }
        submitted = st.form_submit_button("保存人数", type="primary", icon=":material/save:")
    if submitted:

        def change(s: Session) -> object:
            return groups.update_headcounts(session=s, headcounts=typed, actor=user.name)

        save("评议群体人数", change)


criteria_tab_, scale_tab_, forms_tab_, rules_tab_, headcounts_tab_ = st.tabs(
    ["测评项目", "评价等级", "各群体评议表", "评议规则", "评议群体人数"]
)
with criteria_tab_:
    criteria_tab()
with scale_tab_:
    scale_tab()
with forms_tab_:
    forms_tab()
with rules_tab_:
    rules_tab()
with headcounts_tab_:
    headcounts_tab()
