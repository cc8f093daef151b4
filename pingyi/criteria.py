"""Criteria templates and the rating scale: seed defaults (方案 四), copied into each round."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from pingyi.models import TEMPLATE_LABELS, Criterion, Round, ScaleLevel, Template, TemplateKey

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
