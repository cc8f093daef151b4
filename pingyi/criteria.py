"""Criteria templates and the rating scale: seed defaults (方案 四), copied into each round."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session, col, select

from pingyi.models import (
    TEMPLATE_LABELS,
    Criterion,
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


@dataclass(frozen=True)
class LevelView:
    id: int
    label: str
    score: float | None


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
        for criterion in criteria_of(session=session, template_id=template.id):  # type: ignore[arg-type]
            session.add(
                Criterion(template_id=copy.id, position=criterion.position, name=criterion.name)
            )
    for level in scale(session=session, round_id=None):
        session.add(
            ScaleLevel(
                round_id=round_.id, position=level.position, label=level.label, score=level.score
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


def scale(*, session: Session, round_id: int | None) -> list[ScaleLevel]:
    condition = (
        col(ScaleLevel.round_id).is_(None) if round_id is None else ScaleLevel.round_id == round_id
    )
    query = select(ScaleLevel).where(condition).order_by(col(ScaleLevel.position))
    return list(session.exec(query))


def round_scale(*, session: Session, round_id: int) -> list[LevelView]:
    return [
        LevelView(level.id, level.label, level.score)  # type: ignore[arg-type]
        for level in scale(session=session, round_id=round_id)
    ]


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


def _round_condition(column: object, round_id: int | None) -> object:
    return col(column).is_(None) if round_id is None else column == round_id  # type: ignore[arg-type]


def _template(*, session: Session, round_id: int | None, key: TemplateKey) -> Template:
    template = session.exec(
        select(Template).where(
            _round_condition(Template.round_id, round_id),  # type: ignore[arg-type]
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
        .where(_round_condition(Template.round_id, round_id))  # type: ignore[arg-type]
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
    *, session: Session, round_id: int | None, names: Mapping[TemplateKey, Sequence[str]]
) -> dict[TemplateKey, Change]:
    """Replace the criteria of the templates in `names` (order = position), all or none.

    Diffed by name: a criterion whose name stays keeps its id (and whatever points at it);
    only removed names are deleted and only new ones inserted.
    """
    editable_round(session=session, round_id=round_id)
    problems = [p for key, wanted in names.items() for p in criteria_problems(key, wanted)]
    if problems:
        raise CriteriaError(";".join(problems))
    return {
        key: _replace_template(session=session, round_id=round_id, key=key, names=wanted)
        for key, wanted in names.items()
    }


def _replace_template(
    *, session: Session, round_id: int | None, key: TemplateKey, names: Sequence[str]
) -> Change:
    template = _template(session=session, round_id=round_id, key=key)
    rows = criteria_of(session=session, template_id=template.id)  # type: ignore[arg-type]
    existing, extra = _by_name(rows, lambda c: c.name)
    before = list(existing)
    wanted = [name.strip() for name in names]
    for position, name in enumerate(wanted):
        row = existing.pop(name, None) or Criterion(template_id=template.id, name=name)  # type: ignore[arg-type]
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
    *, session: Session, round_id: int | None, levels: Sequence[tuple[str, float | None]]
) -> Change:
    """Replace the rating scale of the defaults or a round in 筹备 (order = position).

    Diffed by label, like the criteria: a level whose label stays keeps its id.
    """
    editable_round(session=session, round_id=round_id)
    problems = scale_problems(levels)
    if problems:
        raise CriteriaError(";".join(problems))
    existing, extra = _by_name(scale(session=session, round_id=round_id), lambda lv: lv.label)
    before = list(existing)
    wanted = [(label.strip(), None if score is None else float(score)) for label, score in levels]
    for position, (label, score) in enumerate(wanted):
        row = existing.pop(label, None) or ScaleLevel(round_id=round_id, label=label, position=0)
        row.position = position
        row.score = score
        session.add(row)
    for gone in [*existing.values(), *extra]:
        session.delete(gone)
    session.flush()
    return _change(before, [label for label, _ in wanted])
