"""SQLModel tables.

Identifiers follow docs/DESIGN.md: a Round has Targets (each branch, the 领导班子, each member)
and the assignments the rules give them; evaluators' ballots carry no link to their 测评码.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


def table(model: type[SQLModel]) -> Table:
    """The Core table of a model, for the SQL written with SQLAlchemy Core (SQLModel sets
    `__table__` on each class at runtime but declares it nowhere a type checker sees)."""
    found = sa_inspect(model).local_table
    assert isinstance(found, Table), model
    return found


# NEW_ROW_ID: integer keys are typed `int`, though a row has None until its first flush: the
# database assigns them, and every reader of `.id` holds a stored row. Typing them `int | None`
# would make every caller (hundreds) prove what the flush already guarantees.


class UnitKind(StrEnum):
    ORGAN = "机关"
    GRASSROOTS = "基层单位"


class TargetKind(StrEnum):
    BRANCH = "branch"  # 党支部
    TEAM = "team"  # 领导班子 as a collective
    MEMBER = "member"  # 党员


class TemplateKey(StrEnum):
    BRANCH = "branch"  # 党组织
    LEADER = "leader"  # 党员领导干部
    MEMBER = "member"  # 普通党员
    TEAM = "team"  # 领导班子


class GroupKey(StrEnum):
    ALL_STAFF = "all_staff"  # 局全体工作人员
    UNIT_STAFF = "unit_staff"  # 基层单位工作人员
    VENDORS = "vendors"  # 市场经营户


class FormKind(StrEnum):
    ITEMIZED = "itemized"  # 分项评议: every criterion of the target's category
    OVERALL = "overall"  # 总体评议: one rating per target, its criteria shown as what to weigh


FORM_KIND_LABELS: dict[FormKind, str] = {
    FormKind.ITEMIZED: "分项评议",
    FormKind.OVERALL: "总体评议",
}


class Step(StrEnum):
    DRAFT = "draft"  # 筹备
    SELF_SUMMARY = "self_summary"  # 自我小结
    INSPECTION = "inspection"  # 调研督查
    BRIEFING = "briefing"  # 通报情况
    REVIEW = "review"  # 开展点评
    RECTIFICATION = "rectification"  # 整改落实
    CLOSED = "closed"  # 已结束


STEP_LABELS: dict[Step, str] = {
    Step.DRAFT: "筹备",
    Step.SELF_SUMMARY: "自我小结",
    Step.INSPECTION: "调研督查",
    Step.BRIEFING: "通报情况",
    Step.REVIEW: "开展点评",
    Step.RECTIFICATION: "整改落实",
    Step.CLOSED: "已结束",
}

TEMPLATE_LABELS: dict[TemplateKey, str] = {
    TemplateKey.BRANCH: "党组织",
    TemplateKey.LEADER: "党员领导干部",
    TemplateKey.MEMBER: "普通党员",
    TemplateKey.TEAM: "领导班子",
}


def _fk(target: str, *, nullable: bool = False, index: bool = True, **kw: Any) -> Any:
    return Field(
        sa_column=Column(Integer, ForeignKey(target, **kw), nullable=nullable, index=index)
    )


def _str(length: int, **kw: Any) -> Any:
    return Field(sa_type=String(length), **kw)


# ---- roster


class Unit(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    name: str = _str(100, unique=True)
    kind: UnitKind = _str(10)


class Branch(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    name: str = _str(100, unique=True)
    unit_id: int = _fk("unit.id")
    # The 联系班子成员; a cycle with member.branch_id, so added after both tables exist.
    liaison_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("member.id", use_alter=True, name="fk_branch_liaison_id_member"),
            nullable=True,
        ),
    )
    active: bool = True


class Member(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    roster_id: str = _str(40, unique=True)  # 编号 in the roster file: stable across imports
    name: str = _str(50)
    unit_id: int = _fk("unit.id")
    branch_id: int | None = _fk("branch.id", nullable=True)
    is_party_secretary: bool = False  # 党组书记
    is_leadership: bool = False  # 班子成员
    is_cadre: bool = False  # 党员干部: leading post below the leadership team
    is_branch_secretary: bool = False  # 支部书记
    is_elderly: bool = False  # 年老体弱
    active: bool = True

    @property
    def is_leader_category(self) -> bool:
        """党员领导干部 for criteria; everyone else is 普通党员."""
        return self.is_leadership or self.is_party_secretary or self.is_cadre


class EvaluatorGroup(SQLModel, table=True):
    __tablename__ = "evaluator_group"
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    key: GroupKey = _str(20, unique=True)
    name: str = _str(50)
    headcount: int = 0


# ---- criteria and scale: round_id NULL holds the editable defaults, a round holds its copy


class Template(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("round_id", "key"),)
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int | None = _fk("round.id", nullable=True, ondelete="CASCADE")
    key: TemplateKey = _str(20)
    name: str = _str(50)


class Criterion(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    template_id: int = _fk("template.id", ondelete="CASCADE")
    position: int
    name: str = _str(100)


class ScaleLevel(SQLModel, table=True):
    __tablename__ = "scale_level"
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int | None = _fk("round.id", nullable=True, ondelete="CASCADE")
    # NULL: the round's scale (leaders' reviews, and every group without one of its own);
    # a group's id: that group's own scale (e.g. 满意 / 基本满意 / 不满意 for vendors).
    group_id: int | None = _fk("evaluator_group.id", nullable=True)
    position: int
    label: str = _str(20)
    score: float | None = None  # None: 不了解, recorded but never scored


class GroupForm(SQLModel, table=True):
    """How one evaluator group rates in a round (round_id NULL: the defaults new rounds copy).
    No row: 分项评议 on the round's scale, with 不了解 and a comment box. Frozen with the
    round's criteria once it opens; the group's own scale, if any, is its ScaleLevel rows."""

    __tablename__ = "group_form"
    __table_args__ = (UniqueConstraint("round_id", "group_id"),)
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int | None = _fk("round.id", nullable=True, ondelete="CASCADE")
    group_id: int = _fk("evaluator_group.id")
    kind: FormKind = _str(10, default=FormKind.ITEMIZED)
    unknown: bool = True  # 不了解 offered
    comments: bool = True  # a 意见建议 box on each card


class Setting(SQLModel, table=True):
    key: str = Field(sa_type=String(50), primary_key=True)
    value: Any = Field(sa_column=Column(JSON, nullable=False))


# ---- rounds, targets, assignments


class Round(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    name: str = _str(100, unique=True)
    quarter: str = _str(10)  # e.g. 2026Q4
    starts_on: date | None = None
    ends_on: date | None = None
    step: Step = _str(20, default=Step.DRAFT)
    # JSON of scoring.ScoringSettings (weights, grades, minimum ballots, 一刀切), read and
    # written only through it.
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # JSON of the round's rules.Rule list, read and written only by rounds.py.
    rules: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    results_published: bool = False
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_open(self) -> bool:
        return self.step not in (Step.DRAFT, Step.CLOSED)


class Target(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("round_id", "kind", "branch_id", "member_id"),)
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    kind: TargetKind = _str(10)
    template_key: TemplateKey = _str(20)
    branch_id: int | None = _fk("branch.id", nullable=True)
    member_id: int | None = _fk("member.id", nullable=True)
    name: str = _str(100)  # snapshot, so old rounds read as they were
    branch_name: str = _str(100, default="")
    position: int = 0  # display order


class LeaderAssignment(SQLModel, table=True):
    __tablename__ = "leader_assignment"
    __table_args__ = (UniqueConstraint("round_id", "reviewer_id", "target_id"),)
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    reviewer_id: int = _fk("member.id")
    target_id: int = _fk("target.id", ondelete="CASCADE")
    rule: str = _str(50, default="")


class MassAssignment(SQLModel, table=True):
    __tablename__ = "mass_assignment"
    __table_args__ = (UniqueConstraint("round_id", "group_id", "target_id"),)
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    group_id: int = _fk("evaluator_group.id")
    target_id: int = _fk("target.id", ondelete="CASCADE")


# ---- 群众评议: codes, ballots, tallies (a ballot being filled in stays on the device)
# A ballot and its ratings carry no code, account, address or time: nothing links them back.


class EvaluationCode(SQLModel, table=True):
    __tablename__ = "evaluation_code"
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    group_id: int = _fk("evaluator_group.id")
    code_hash: str = _str(64, unique=True)  # keyed hash: a dump alone cannot vote
    opened: bool = False
    used: bool = False
    revoked: bool = False
    # SHA-256 of the random token of the device whose ballot used the code: that device is told
    # its ballot is in when it sends it again (lost reply). Nothing of the ballot is here.
    receipt: str | None = Field(default=None, sa_type=String(64))


# On SQLite a rowid would keep rows in the order they arrived, i.e. the order codes were used:
# the box is stored in its random primary key's order instead.
class BallotBox(SQLModel, table=True):
    """票箱: each cast ballot sealed (AES-GCM, key from the app's secret, never stored here),
    until its group's evaluation is closed and the box opened (`pingyi.evaluation.close`).

    A copy of the database links a code to the blob it cast at most, and the blob is unreadable
    and of the same size for every ballot of the group; ballots come out shuffled, under new
    ids, when the box is opened."""

    __tablename__ = "ballot_box"
    __table_args__ = {"sqlite_with_rowid": False}
    id: str = Field(sa_type=String(32), primary_key=True)
    round_id: int = _fk("round.id", ondelete="CASCADE", index=False)
    group_id: int = Field(sa_column=Column(Integer, nullable=False))
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class GroupEvaluation(SQLModel, table=True):
    """Whether a group's 群众评议 in a round is closed and its box counted (开箱计票), and what
    was counted. No row: still open (nothing counted). `sealed`: the files were rewritten after
    counting, so nothing of the order of casting is left in them."""

    __tablename__ = "group_evaluation"
    round_id: int = Field(
        sa_column=Column(Integer, ForeignKey("round.id", ondelete="CASCADE"), primary_key=True)
    )
    group_id: int = Field(sa_column=Column(Integer, primary_key=True))
    counted: bool = False
    sealed: bool = False
    ballots: int = 0
    uniform: int = 0  # 一刀切 ballots among them
    counted_at: datetime | None = None  # when the box was opened: one time per group


# On SQLite a rowid would keep ballots in the order they arrived, i.e. the order codes were
# used: the anonymous tables are stored in their random primary key's order instead.
_NO_ROWID = {"sqlite_with_rowid": False}


class Ballot(SQLModel, table=True):
    __table_args__ = _NO_ROWID
    id: str = Field(sa_type=String(32), primary_key=True)
    round_id: int = _fk("round.id", ondelete="CASCADE")
    group_id: int = _fk("evaluator_group.id")
    uniform: bool = False  # 一刀切: one level for every item


class Rating(SQLModel, table=True):
    __table_args__ = _NO_ROWID
    ballot_id: str = Field(
        sa_column=Column(String(32), ForeignKey("ballot.id", ondelete="CASCADE"), primary_key=True)
    )
    target_id: int = Field(sa_column=Column(Integer, ForeignKey("target.id"), primary_key=True))
    # The criterion and level are checked against the round's form by submit, and round and
    # group copy the ballot's: no foreign keys or indexes, since a ballot writes 180 rows.
    criterion_id: int = Field(sa_column=Column(Integer, primary_key=True))
    level_id: int
    round_id: int
    group_id: int


class MassComment(SQLModel, table=True):
    __tablename__ = "mass_comment"
    __table_args__ = _NO_ROWID
    id: str = Field(sa_type=String(32), primary_key=True)
    round_id: int = _fk("round.id", ondelete="CASCADE")
    group_id: int = _fk("evaluator_group.id", index=False)
    target_id: int = _fk("target.id")
    text: str = _str(500)


class Tally(SQLModel, table=True):
    """Rating counts kept up to date by each ballot, so live screens never scan ratings."""

    __table_args__ = _NO_ROWID
    round_id: int = Field(
        sa_column=Column(Integer, ForeignKey("round.id", ondelete="CASCADE"), primary_key=True)
    )
    group_id: int = Field(sa_column=Column(Integer, primary_key=True))
    target_id: int = Field(sa_column=Column(Integer, primary_key=True))
    criterion_id: int = Field(sa_column=Column(Integer, primary_key=True))
    level_id: int = Field(sa_column=Column(Integer, primary_key=True))
    uniform: bool = Field(default=False, primary_key=True)
    count: int = 0


class BallotTally(SQLModel, table=True):
    """Ballots cast per group and minute, for the submissions-over-time chart: counts only.
    `uniform` is no longer written (always 0): 一刀切 is known only once the box is opened."""

    __tablename__ = "ballot_tally"
    round_id: int = Field(
        sa_column=Column(Integer, ForeignKey("round.id", ondelete="CASCADE"), primary_key=True)
    )
    group_id: int = Field(sa_column=Column(Integer, primary_key=True))
    minute: datetime = Field(primary_key=True)
    ballots: int = 0
    uniform: int = 0


# ---- accounts and the office's audit log


class Account(SQLModel, table=True):
    """A login: the office (管理员) or a party member; evaluators never have one."""

    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    username: str = _str(40, unique=True)  # a member's roster 编号, or the office's own name
    display_name: str = _str(50)
    member_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("member.id"), unique=True)
    )
    is_admin: bool = False  # 管理员
    password_hash: str = _str(200)
    must_change_password: bool = True  # a one-time initial password
    failed_logins: int = 0
    locked_until: datetime | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class LoginSession(SQLModel, table=True):
    """A browser's login, kept across reloads and restarts by its HttpOnly cookie.

    Only hashes are stored: the cookie's token exists in the browser alone, so a copy of the
    database logs no one in. `password_mark` binds it to the password it was opened with.
    """

    __tablename__ = "login_session"
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    token_hash: str | None = _str(64, default=None, unique=True)  # once the cookie is set
    ticket_hash: str | None = _str(64, default=None, unique=True)  # until the cookie is set
    ticket_expires: datetime | None = None
    password_mark: str = _str(16)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    last_seen: datetime = Field(default_factory=lambda: datetime.now(UTC))


class AuditEvent(SQLModel, table=True):
    """What the office did, for the 操作日志: never anything an evaluator did."""

    __tablename__ = "audit_event"
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    at: datetime = Field(default_factory=lambda: datetime.now(UTC), index=True)
    actor: str = _str(50)
    action: str = _str(50)
    detail: str = _str(1000, default="")


# ---- the five steps: 自我小结, 调研督查, 开展点评, 整改落实, and 好经验


class CommitmentStatus(StrEnum):
    KEPT = "已兑现"
    IN_PROGRESS = "推进中"
    NOT_KEPT = "未兑现"


class Summary(SQLModel, table=True):
    """自我小结 of one target in one round: a member, a branch (by its secretary), the 领导班子."""

    __table_args__ = (UniqueConstraint("round_id", "target_id"),)
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    target_id: int = _fk("target.id", ondelete="CASCADE")
    achievements: str = _str(3000, default="")  # 成绩
    problems: str = _str(3000, default="")  # 问题
    causes: str = _str(3000, default="")  # 原因
    submitted: bool = False
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Commitment(SQLModel, table=True):
    """A 公开承诺 of a target, looked back at in the round's 自我小结."""

    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    target_id: int = _fk("target.id", ondelete="CASCADE")
    text: str = _str(500)
    status: CommitmentStatus = _str(10, default=CommitmentStatus.IN_PROGRESS)
    evidence: str = _str(1000, default="")


class Inspection(SQLModel, table=True):
    """A 调研督查 finding of the leading group about one branch."""

    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    target_id: int = _fk("target.id", ondelete="CASCADE")  # the branch's target
    inspector: str = _str(50)  # who recorded it, as shown on the briefing
    recorded_by: int | None = _fk("account.id", nullable=True)  # may delete it (or the office)
    visited_on: date
    checked: str = _str(1000)  # what was checked
    findings: str = _str(3000)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Review(SQLModel, table=True):
    """领导点评 of one target by one reviewer: scores per criterion and four comments."""

    __tablename__ = "leader_review"
    __table_args__ = (UniqueConstraint("round_id", "reviewer_id", "target_id"),)
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    reviewer_id: int = _fk("member.id")
    target_id: int = _fk("target.id", ondelete="CASCADE")
    achievements: str = _str(2000, default="")  # 肯定成绩
    problems: str = _str(2000, default="")  # 指出问题
    direction: str = _str(2000, default="")  # 明确方向
    requirements: str = _str(2000, default="")  # 整改要求: one item per line
    deadline: date | None = None  # of the 整改 items
    scores: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    submitted: bool = False
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ItemStatus(StrEnum):
    NOT_STARTED = "未开始"
    IN_PROGRESS = "进行中"
    DONE = "已完成"
    OVERDUE = "逾期"  # never stored: an unfinished item past its deadline


class RectificationItem(SQLModel, table=True):
    """One 整改要求 of a submitted review, followed up until it is done."""

    __tablename__ = "rectification_item"
    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int = _fk("round.id", ondelete="CASCADE")
    target_id: int = _fk("target.id", ondelete="CASCADE")
    review_id: int | None = _fk("leader_review.id", nullable=True, ondelete="SET NULL")
    owner_id: int | None = _fk("member.id", nullable=True)  # who must act on it
    text: str = _str(500)
    deadline: date | None = None
    status: ItemStatus = _str(10, default=ItemStatus.NOT_STARTED)  # never OVERDUE
    evidence: str = _str(2000, default="")
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Highlight(SQLModel, table=True):
    """好经验、好典型、好做法 picked by the office from summaries and reviews (方案 七)."""

    id: int = Field(default=None, primary_key=True)  # see NEW_ROW_ID
    round_id: int | None = _fk("round.id", nullable=True, ondelete="SET NULL")
    kind: str = _str(10)  # 好经验 / 好典型 / 好做法
    title: str = _str(100)
    text: str = _str(3000)
    source: str = _str(200, default="")  # e.g. 「张三 的自我小结」
    published: bool = True
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
