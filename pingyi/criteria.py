"""Criteria templates and the rating scale: seed defaults (方案 四), copied into each round."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from pingyi import audit
from pingyi.models import (
    FORM_KIND_LABELS,
    TEMPLATE_LABELS,
    Criterion,
    EvaluatorGroup,
    FormKind,
    GroupForm,
    Round,
    ScaleLevel,
    Step,
    Template,
    TemplateKey,
)

_BRANCH_CRITERIA = (
    "组织领导情况",
    "公开承诺兑现情况",
    "创建优秀党支部措施落实情况",
    "开展活动与促进工作有机结合情况",
    "履行管党责任情况",
    "活动效果",
)

DEFAULT_CRITERIA: dict[TemplateKey, tuple[str, ...]] = {
    TemplateKey.BRANCH: _BRANCH_CRITERIA,
    TemplateKey.LEADER: (
        "参加创先争优活动情况",
        "公开承诺事项兑现情况",
        "推动科学发展情况",
        "执行政策情况",
        "工作作风、廉洁自律情况",
        "关心服务群众情况",
        "分管(主管)工作情况",
    ),
    TemplateKey.MEMBER: (
        "参加创先争优活动情况",
        "公开承诺事项兑现情况",
        "履行岗位职责情况",
        "服务群众情况",
        "工作作风情况",
        "工作成效",
    ),
    # The seed gives no list for the 领导班子 collective; the 党组织 list is the default.
    TemplateKey.TEAM: _BRANCH_CRITERIA,
}

UNKNOWN_LABEL = "不了解"
DEFAULT_SCALE: tuple[tuple[str, float | None], ...] = (
    ("好", 100.0),
    ("较好", 80.0),
    ("一般", 60.0),
    ("差", 40.0),
    (UNKNOWN_LABEL, None),
)


@dataclass(frozen=True)
class CriterionView:
    id: int
    name: str


# The one item of a target on a 总体评议 form: ratings and tallies store it as criterion 0
# (criterion ids start at 1), so one rating per target fits the same rows as 分项.
OVERALL = CriterionView(0, "总体评价")


@dataclass(frozen=True)
class LevelView:
    id: int
    label: str
    score: float | None
    group_id: int | None = None  # the scale it belongs to: None for the round's own

    @property
    def scored(self) -> bool:
        return self.score is not None


def good_levels(levels: Sequence[LevelView]) -> frozenset[int]:
    """好评: the two highest-scored levels of each scale (好 and 较好 on the round's; 满意 and
    基本满意 on a group's 满意 / 基本满意 / 不满意). The one place this rule is written."""
    by_scale: dict[int | None, list[LevelView]] = {}
    for level in levels:
        if level.score is not None:
            by_scale.setdefault(level.group_id, []).append(level)
    return frozenset(
        level.id
        for scored in by_scale.values()
        for level in sorted(scored, key=lambda lv: -(lv.score or 0))[:2]
    )


def distinct_levels(levels: Sequence[LevelView]) -> list[LevelView]:
    """The first level of each label, in scale order: one bar, column or colour per label."""
    seen: dict[str, LevelView] = {}
    for level in levels:
        seen.setdefault(level.label, level)
    return list(seen.values())


def levels_for(levels: Sequence[LevelView], group_ids: Iterable[int]) -> list[LevelView]:
    """The levels of the scales these groups rate on: a group's own, or the round's for a
    group without one (and for no group at all)."""
    own = {level.group_id for level in levels if level.group_id is not None}
    scales = {gid if gid in own else None for gid in group_ids} or {None}
    return [level for level in levels if level.group_id in scales]


def level_labels(levels: Sequence[LevelView]) -> list[str]:
    """Each label once, in scale order (the round's scale first): the columns of a
    distribution pooled over groups whose scales share labels such as 不了解."""
    return list(dict.fromkeys(level.label for level in levels))


def seed_defaults(*, session: Session) -> None:
    """Load the seed templates and scale once; later edits by the office are kept."""
    if session.exec(select(Template).where(col(Template.round_id).is_(None))).first() is None:
        for key, names in DEFAULT_CRITERIA.items():
            template = Template(round_id=None, key=key, name=TEMPLATE_LABELS[key])
            session.add(template)
            session.flush()
            for position, name in enumerate(names):
                session.add(Criterion(template_id=template.id, position=position, name=name))
    if session.exec(select(ScaleLevel).where(col(ScaleLevel.round_id).is_(None))).first() is None:
        for position, (label, score) in enumerate(DEFAULT_SCALE):
            session.add(ScaleLevel(round_id=None, position=position, label=label, score=score))
    session.flush()


def copy_defaults_to_round(*, session: Session, round_: Round) -> None:
    """Give a new round its own criteria and scale, so later edits never rewrite old rounds."""
    for template in session.exec(select(Template).where(col(Template.round_id).is_(None))):
        copy = Template(round_id=round_.id, key=template.key, name=template.name)
        session.add(copy)
        session.flush()
        for criterion in criteria_of(session=session, template_id=template.id):
            session.add(
                Criterion(template_id=copy.id, position=criterion.position, name=criterion.name)
            )
    defaults = session.exec(select(ScaleLevel).where(col(ScaleLevel.round_id).is_(None)))
    for level in defaults:  # the round's scale and each group's own
        session.add(
            ScaleLevel(
                round_id=round_.id,
                group_id=level.group_id,
                position=level.position,
                label=level.label,
                score=level.score,
            )
        )
    for form in session.exec(select(GroupForm).where(col(GroupForm.round_id).is_(None))):
        session.add(
            GroupForm(
                round_id=round_.id,
                group_id=form.group_id,
                kind=form.kind,
                unknown=form.unknown,
                comments=form.comments,
            )
        )
    session.flush()


def criteria_of(*, session: Session, template_id: int) -> list[Criterion]:
    return list(
        session.exec(
            select(Criterion)
            .where(Criterion.template_id == template_id)
            .order_by(col(Criterion.position))
        )
    )


def round_criteria(*, session: Session, round_id: int) -> dict[TemplateKey, list[CriterionView]]:
    """The round's criteria per template, in order."""
    rows = session.exec(
        select(Template.key, Criterion.id, Criterion.name)
        .join(Criterion, col(Criterion.template_id) == Template.id)
        .where(Template.round_id == round_id)
        .order_by(col(Template.key), col(Criterion.position))
    )
    result: dict[TemplateKey, list[CriterionView]] = {key: [] for key in TemplateKey}
    for key, criterion_id, name in rows:
        result[TemplateKey(key)].append(CriterionView(criterion_id, name))
    return result


def criterion_names(*, session: Session, round_id: int) -> dict[int, str]:
    """Every criterion of the round by id, and 总体评价 (criterion 0)."""
    names = {OVERALL.id: OVERALL.name}
    for views in round_criteria(session=session, round_id=round_id).values():
        names.update((c.id, c.name) for c in views)
    return names


def scale(
    *, session: Session, round_id: int | None, group_id: int | None = None
) -> list[ScaleLevel]:
    """The scale of the defaults (round None) or a round; a group's own with `group_id`."""
    query = (
        select(ScaleLevel)
        .where(
            _round_condition(ScaleLevel.round_id, round_id),
            _round_condition(ScaleLevel.group_id, group_id),
        )
        .order_by(col(ScaleLevel.position))
    )
    return list(session.exec(query))


def round_scale(*, session: Session, round_id: int) -> list[LevelView]:
    """The round's own scale: leaders' reviews, and groups without a scale of their own."""
    return [
        LevelView(level.id, level.label, level.score)
        for level in scale(session=session, round_id=round_id)
    ]


def round_levels(*, session: Session, round_id: int) -> list[LevelView]:
    """Every level a rating of the round may name: the round's scale, then each group's own
    (by group id), each in its order."""
    rows = session.exec(
        select(ScaleLevel)
        .where(ScaleLevel.round_id == round_id)
        .order_by(col(ScaleLevel.group_id).is_not(None), col(ScaleLevel.group_id))
        .order_by(col(ScaleLevel.position))
    )
    return [LevelView(level.id, level.label, level.score, level.group_id) for level in rows]


# ---- the office edits the defaults (round_id None) or a round still in 筹备

MAX_CRITERION_CHARS = 100
MAX_LEVEL_CHARS = 20


_Row = TypeVar("_Row", Criterion, ScaleLevel)


class CriteriaError(ValueError):
    """Criteria or scale that cannot be stored; the message is for the office, in Chinese."""


@dataclass(frozen=True)
class Change:
    """What a save did to a list of names; a renamed item is one removed and one added."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]

    def describe(self) -> str:
        parts = [f"共 {len(self.added) + len(self.kept)} 项"]
        if self.added:
            parts.append("新增「" + "」「".join(self.added) + "」")
        if self.removed:
            parts.append("删除「" + "」「".join(self.removed) + "」")
        return ",".join(parts)


def is_editable(round_: Round | None) -> bool:
    """The defaults always are; a round only while in 筹备."""
    return round_ is None or round_.step == Step.DRAFT


def frozen_message(round_: Round) -> str:
    return f"「{round_.name}」已开启,测评内容已冻结"


def place(round_: Round | None) -> str:
    """Where an edit of the content lands, as the office and its log say it."""
    return "办公室默认设置" if round_ is None else f"「{round_.name}」"


def editable_round(*, session: Session, round_id: int | None) -> Round | None:
    """The round to edit (None: the defaults), refused once opened.

    The row is locked for the transaction: on PostgreSQL an `open_round` committing meanwhile
    is waited for and then seen, so no edit slips into a round that has just opened.
    """
    if round_id is None:
        return None
    round_ = session.get(Round, round_id, with_for_update=True, populate_existing=True)
    if round_ is None:
        raise CriteriaError("找不到该评议轮次")
    if not is_editable(round_):
        raise CriteriaError(frozen_message(round_))
    return round_


def _round_condition(column: Any, round_id: int | None) -> ColumnElement[bool]:
    return col(column).is_(None) if round_id is None else col(column) == round_id


def _template(*, session: Session, round_id: int | None, key: TemplateKey) -> Template:
    template = session.exec(
        select(Template).where(
            _round_condition(Template.round_id, round_id),
            Template.key == key,
        )
    ).first()
    if template is None:  # a round made before this template existed
        template = Template(round_id=round_id, key=key, name=TEMPLATE_LABELS[key])
        session.add(template)
        session.flush()
    return template


def criteria_names(*, session: Session, round_id: int | None) -> dict[TemplateKey, list[str]]:
    """The names per template, in order, of the defaults (None) or of a round."""
    rows = session.exec(
        select(Template.key, Criterion.name)
        .join(Criterion, col(Criterion.template_id) == Template.id)
        .where(_round_condition(Template.round_id, round_id))
        .order_by(col(Template.key), col(Criterion.position))
    )
    result: dict[TemplateKey, list[str]] = {key: [] for key in TemplateKey}
    for key, name in rows:
        result[TemplateKey(key)].append(name)
    return result


def criteria_problems(key: TemplateKey, names: Sequence[str]) -> list[str]:
    """Every reason, in Chinese, why `names` cannot be the criteria of template `key`."""
    label = TEMPLATE_LABELS[key]
    if not names:
        return [f"{label}至少要有一项测评内容"]
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(names, start=1):
        name = raw.strip()
        if not name:
            problems.append(f"{label}第 {number} 项:名称不能为空")
        elif len(name) > MAX_CRITERION_CHARS:
            problems.append(f"{label}第 {number} 项:名称超过 {MAX_CRITERION_CHARS} 个字")
        elif name in seen:
            problems.append(f"{label}第 {number} 项:「{name}」重复")
        seen.add(name)
    return problems


def replace_criteria(
    *,
    session: Session,
    round_id: int | None,
    names: Mapping[TemplateKey, Sequence[str]],
    actor: str,
) -> dict[TemplateKey, Change]:
    """Replace the criteria of the templates in `names` (order = position), all or none.

    Diffed by name: a criterion whose name stays keeps its id (and whatever points at it);
    only removed names are deleted and only new ones inserted.
    """
    round_ = editable_round(session=session, round_id=round_id)
    problems = [p for key, wanted in names.items() for p in criteria_problems(key, wanted)]
    if problems:
        raise CriteriaError(";".join(problems))
    changes = {
        key: _replace_template(session=session, round_id=round_id, key=key, names=wanted)
        for key, wanted in names.items()
    }
    parts = (f"{TEMPLATE_LABELS[key]}{change.describe()}" for key, change in changes.items())
    audit.record(
        session=session,
        actor=actor,
        action=audit.Action.EDIT_CRITERIA,
        detail=f"{place(round_)}:" + ";".join(parts),
    )
    return changes


def _replace_template(
    *, session: Session, round_id: int | None, key: TemplateKey, names: Sequence[str]
) -> Change:
    template = _template(session=session, round_id=round_id, key=key)
    rows = criteria_of(session=session, template_id=template.id)
    existing, extra = _by_name(rows, lambda c: c.name)
    before = list(existing)
    wanted = [name.strip() for name in names]
    for position, name in enumerate(wanted):
        row = existing.pop(name, None) or Criterion(
            template_id=template.id, name=name, position=position
        )

        row.position = position
        session.add(row)
    for gone in [*existing.values(), *extra]:
        session.delete(gone)
    session.flush()
    return _change(before, wanted)


def _by_name(
    rows: Sequence[_Row], name: Callable[[_Row], str]
) -> tuple[dict[str, _Row], list[_Row]]:
    """Rows by name, and any later row of a name already seen (to be deleted)."""
    by_name: dict[str, _Row] = {}
    extra: list[_Row] = []
    for row in rows:
        if name(row) in by_name:
            extra.append(row)
        else:
            by_name[name(row)] = row
    return by_name, extra


def _change(before: Sequence[str], after: Sequence[str]) -> Change:
    return Change(
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        kept=tuple(n for n in after if n in before),
    )


def scale_problems(levels: Sequence[tuple[str, float | None]]) -> list[str]:
    """Every reason, in Chinese, why `levels` (label, score or None) cannot be the scale."""
    problems: list[str] = []
    seen: set[str] = set()
    for number, (raw, score) in enumerate(levels, start=1):
        label = raw.strip()
        if not label:
            problems.append(f"第 {number} 级:等级名称不能为空")
        elif len(label) > MAX_LEVEL_CHARS:
            problems.append(f"第 {number} 级:等级名称超过 {MAX_LEVEL_CHARS} 个字")
        elif label in seen:
            problems.append(f"第 {number} 级:「{label}」重复")
        seen.add(label)
        if score is not None and not _valid_score(score):
            problems.append(f"第 {number} 级「{label}」:分数应在 0 到 100 之间")
    unscored = [label.strip() for label, score in levels if score is None]
    if len(unscored) > 1:
        problems.append(
            f"只能有一个不计分的等级(如「{UNKNOWN_LABEL}」),现有 {len(unscored)} 个:"
            + "".join(f"「{label}」" for label in unscored)
        )
    scores = [score for _, score in levels if score is not None and _valid_score(score)]
    if len([score for _, score in levels if score is not None]) < 2:
        problems.append("至少要有两个计分的等级")
    elif any(later >= earlier for earlier, later in itertools.pairwise(scores)):
        problems.append("计分的等级应按分数从高到低排列,且分数不能相同")
    return problems


def _valid_score(score: object) -> bool:
    if isinstance(score, bool) or not isinstance(score, int | float):
        return False
    return not math.isnan(score) and 0 <= score <= 100


def replace_scale(
    *,
    session: Session,
    round_id: int | None,
    levels: Sequence[tuple[str, float | None]],
    actor: str,
) -> Change:
    """Replace the rating scale of the defaults or a round in 筹备 (order = position).

    Diffed by label, like the criteria: a level whose label stays keeps its id.
    """
    round_ = editable_round(session=session, round_id=round_id)
    problems = scale_problems(levels)
    if problems:
        raise CriteriaError(";".join(problems))
    change = _replace_levels(session=session, round_id=round_id, group_id=None, levels=levels)
    audit.record(
        session=session,
        actor=actor,
        action=audit.Action.EDIT_SCALE,
        detail=f"{place(round_)}:{change.describe()}",
    )
    return change


def _replace_levels(
    *,
    session: Session,
    round_id: int | None,
    group_id: int | None,
    levels: Sequence[tuple[str, float | None]],
) -> Change:
    rows = scale(session=session, round_id=round_id, group_id=group_id)
    existing, extra = _by_name(rows, lambda lv: lv.label)
    before = list(existing)
    wanted = [(label.strip(), None if score is None else float(score)) for label, score in levels]
    for position, (label, score) in enumerate(wanted):
        row = existing.pop(label, None) or ScaleLevel(
            round_id=round_id, group_id=group_id, label=label, position=0
        )
        row.position = position
        row.score = score
        session.add(row)
    for gone in [*existing.values(), *extra]:
        session.delete(gone)
    session.flush()
    return _change(before, [label for label, _ in wanted])


# ---- the form of each evaluator group: 分项 or 总体, its scale, 不了解, comments


@dataclass(frozen=True)
class GroupFormView:
    """How a group rates: what its ballot shows and the scale its ratings are scored on."""

    group_id: int
    group_key: str
    group_name: str
    kind: FormKind
    unknown: bool  # 不了解 offered
    comments: bool  # a 意见建议 box on each card
    scale: tuple[LevelView, ...]  # its own scale, or the round's; 不了解 kept even when not offered
    own_scale: bool

    @property
    def levels(self) -> tuple[LevelView, ...]:
        """The levels its ballot offers, in order."""
        return tuple(level for level in self.scale if level.scored or self.unknown)

    @property
    def kind_label(self) -> str:
        return FORM_KIND_LABELS[self.kind]

    @property
    def scale_label(self) -> str:
        return "/".join(level.label for level in self.levels)

    def describe(self) -> str:
        """One line for 评议关系, the slips and the 汇总表, e.g. 总体评议 · 满意/基本满意/不满意."""
        parts = [self.kind_label, self.scale_label]
        if not self.comments:
            parts.append("不设意见建议栏")
        return " · ".join(parts)


def rated_items(
    category: Sequence[CriterionView], kinds: Iterable[FormKind]
) -> tuple[CriterionView, ...]:
    """What a target is rated on by groups of these forms: its category's criteria (分项, or no
    group at all), then 总体评价 (总体), in that order."""
    kinds = set(kinds)
    items = tuple(category) if not kinds or FormKind.ITEMIZED in kinds else ()
    return items + ((OVERALL,) if FormKind.OVERALL in kinds else ())


def default_scores(count: int) -> list[float]:
    """Scores for `count` scored levels given by label only: 100 down to 40 in equal steps,
    as the round's 好/较好/一般/差 are 100/80/60/40."""
    if count < 2:
        return [100.0] * count
    step = 60 / (count - 1)
    return [round(100 - step * i, 2) for i in range(count)]


def parse_scale(text: str) -> list[tuple[str, float | None]]:
    """A scale as the office types it: labels from best to worst separated by commas
    (、,, or spaces), each optionally with its score (满意=100). Labels without a score get
    `default_scores`; 不了解 is never scored. Raises CriteriaError, in Chinese."""
    parts = [p.strip() for p in text.replace("、", ",").replace(",", ",").split(",")]
    parts = [p for part in parts for p in part.split() if p]
    if not parts:
        raise CriteriaError("请填写评价等级,如「满意,基本满意,不满意」")
    labels: list[str] = []
    given: dict[str, float] = {}
    for part in parts:
        label, _, score = part.partition("=")
        label = label.strip()
        labels.append(label)
        if score.strip():
            try:
                given[label] = float(score)
            except ValueError:
                raise CriteriaError(f"「{part}」的分数不是数字") from None
    scored = [label for label in labels if label != UNKNOWN_LABEL]
    if given and len(given) != len([label for label in scored if label]):
        raise CriteriaError("请为每个等级都写上分数(如「满意=100」),或都不写")
    defaults = dict(zip(scored, default_scores(len(scored)), strict=True))
    return [
        (label, None if label == UNKNOWN_LABEL else given.get(label, defaults.get(label)))
        for label in labels
    ]


def _group_scale(levels: Sequence[tuple[str, float | None]]) -> list[tuple[str, float | None]]:
    """A group's scale as stored: its levels, and 不了解 last when it has none unscored."""
    if any(score is None for _, score in levels):
        return list(levels)
    return [*levels, (UNKNOWN_LABEL, None)]


def group_forms(*, session: Session, round_id: int | None) -> dict[int, GroupFormView]:
    """Every evaluator group's form in the defaults (None) or a round, by group id."""
    groups = list(session.exec(select(EvaluatorGroup).order_by(col(EvaluatorGroup.id))))
    stored = {
        form.group_id: form
        for form in session.exec(
            select(GroupForm).where(_round_condition(GroupForm.round_id, round_id))
        )
    }
    levels = session.exec(
        select(ScaleLevel)
        .where(_round_condition(ScaleLevel.round_id, round_id))
        .order_by(col(ScaleLevel.position))
    )
    by_scale: dict[int | None, list[LevelView]] = {}
    for level in levels:
        by_scale.setdefault(level.group_id, []).append(
            LevelView(level.id, level.label, level.score, level.group_id)
        )
    forms = {}
    for group in groups:
        gid: int = group.id
        form = stored.get(gid)
        own = by_scale.get(gid)
        forms[gid] = GroupFormView(
            group_id=gid,
            group_key=str(group.key),
            group_name=group.name,
            kind=FormKind(form.kind) if form else FormKind.ITEMIZED,
            unknown=form.unknown if form else True,
            comments=form.comments if form else True,
            scale=tuple(own or by_scale.get(None, [])),
            own_scale=bool(own),
        )
    return forms


def form_kinds(*, session: Session, round_id: int) -> dict[int, FormKind]:
    """分项 or 总体 of each group of the round that has a form stored (the others: 分项)."""
    rows = session.exec(
        select(GroupForm.group_id, GroupForm.kind).where(GroupForm.round_id == round_id)
    )
    return {group_id: FormKind(kind) for group_id, kind in rows}


def group_form(*, session: Session, round_id: int | None, group_id: int) -> GroupFormView:
    form = group_forms(session=session, round_id=round_id).get(group_id)
    if form is None:
        raise CriteriaError("找不到该评议群体")
    return form


def set_group_form(
    *,
    session: Session,
    round_id: int | None,
    group_id: int,
    kind: FormKind,
    scale_levels: Sequence[tuple[str, float | None]] | None = None,
    unknown: bool = True,
    comments: bool = True,
    actor: str,
) -> GroupFormView:
    """Set how a group rates in the defaults or a round in 筹备, all or nothing.

    `scale_levels` None: the round's scale; otherwise the group's own (label, score or None
    for 不了解), from best to worst, with 不了解 added when it has no unscored level."""
    round_ = editable_round(session=session, round_id=round_id)
    group = session.get(EvaluatorGroup, group_id)
    if group is None:
        raise CriteriaError("找不到该评议群体")
    if scale_levels is None:
        _replace_levels(session=session, round_id=round_id, group_id=group_id, levels=[])
    else:
        levels = _group_scale(scale_levels)
        problems = scale_problems(levels)
        if problems:
            raise CriteriaError(";".join(problems))
        _replace_levels(session=session, round_id=round_id, group_id=group_id, levels=levels)
    form = session.exec(
        select(GroupForm).where(
            _round_condition(GroupForm.round_id, round_id),
            GroupForm.group_id == group_id,
        )
    ).first() or GroupForm(round_id=round_id, group_id=group_id)
    form.kind = FormKind(kind)
    form.unknown = unknown
    form.comments = comments
    session.add(form)
    session.flush()
    saved = group_form(session=session, round_id=round_id, group_id=group_id)
    audit.record(
        session=session,
        actor=actor,
        action=audit.Action.EDIT_FORM,
        detail=f"{place(round_)}{group.name}:{saved.describe()}",
    )
    return saved
