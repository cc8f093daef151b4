"""`pingyi demo`: a realistic bureau to try the app and to benchmark it.

The bureau is written as roster rows and loaded through the same import the office uses, so
the demo exercises the real path; then it gets evaluator headcounts and an open round.
"""

from __future__ import annotations

import csv
import io
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, func, select

from pingyi import (
    audit,
    ballots,
    bootstrap,
    codes,
    db,
    demo_history,
    evaluation,
    groups,
    roster,
    rounds,
)
from pingyi.audit import Action
from pingyi.models import Account, Branch, GroupKey, Member, Setting, metadata

Size = Literal["small", "large"]

ORGAN_UNIT = "市场发展服务局机关"
ORGAN_BRANCH = "机关党支部"
DEMO_ROUND = "2026年第四季度领导点评和群众评议"
DEMO_QUARTER = "2026Q4"
DEMO_MARK = "demo"  # Setting: this database holds the demo

_GRASSROOTS_SMALL = (
    ("东城农贸市场管理所", 14),
    ("西城综合市场管理所", 12),
    ("南门小商品市场管理所", 9),
    ("北站批发市场管理所", 18),
    ("城南果蔬市场管理所", 11),
    ("物业服务中心", 16),
)
_PLACES = "东西南北中城江河山湖桥塘岭湾园坪港沙"
_KINDS = ("农贸市场", "综合市场", "小商品市场", "批发市场", "果蔬市场", "花鸟市场", "建材市场")

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥建国志海燕文博晓东庆春"
    "梅德金凤卫永淑珍小振"
)


class DemoError(ValueError):
    """The demo cannot be loaded; the message says why, in Chinese."""


@dataclass(frozen=True)
class DemoSummary:
    members: int
    branches: int
    round_name: str


def has_data(*, session: Session) -> bool:
    return session.exec(select(func.count()).select_from(Member)).one() > 0


def load_demo(
    *,
    session: Session,
    size: Size = "small",
    replace: bool = False,
    history: bool = True,
    actor: str,
) -> DemoSummary:
    """The demo bureau; with `history` (the default) a finished earlier round and the current
    round at 开展点评 with part of the reviews in, else the current round just opened."""
    if has_data(session=session):
        if not replace:
            raise DemoError("数据库里已有数据;如确需用示例数据替换全部数据,请加 --replace")
        clear_all(session=session)
    rows = demo_rows(size)
    data = rows_to_csv(rows)
    report = roster.import_roster(session=session, filename="demo.csv", data=data, actor=actor)
    if not report.ok:
        raise DemoError("示例名册有误:\n" + "\n".join(str(e) for e in report.errors))
    headcounts = {GroupKey.ALL_STAFF: 60, GroupKey.UNIT_STAFF: 80, GroupKey.VENDORS: 200}
    if size == "large":
        headcounts = {GroupKey.ALL_STAFF: 150, GroupKey.UNIT_STAFF: 600, GroupKey.VENDORS: 3000}
    groups.set_headcounts(session=session, headcounts=headcounts)
    if history:
        demo_history.finished_round(session=session)
        round_ = demo_history.current_round(session=session, name=DEMO_ROUND, quarter=DEMO_QUARTER)
    else:
        round_ = demo_history.new_round(session=session, name=DEMO_ROUND, quarter=DEMO_QUARTER)
    session.merge(Setting(key=DEMO_MARK, value=True))
    audit.record(session=session, actor=actor, action=Action.LOAD_DEMO, detail=size)
    branch_count = len({row["党支部"] for row in rows})
    return DemoSummary(members=len(rows), branches=branch_count, round_name=round_.name)


def is_demo(*, session: Session) -> bool:
    """Whether the database holds the demo bureau (`pingyi demo simulate` runs only there)."""
    mark = session.get(Setting, DEMO_MARK)
    return bool(mark is not None and mark.value)


# Kept by --replace: the office must still be able to log in (and stay logged in), and its log
# is its record. Members' accounts go, and their logins with them (ON DELETE CASCADE).
_KEPT = {"account", "login_session", "audit_event"}


def clear_all(*, session: Session) -> None:
    """Delete every row of every table but the office's accounts and its log, then put the
    seed defaults back."""
    session.exec(update(Branch).values(liaison_id=None))
    session.exec(delete(Account).where(col(Account.member_id).is_not(None)))
    for table in reversed(metadata.sorted_tables):
        if table.name not in _KEPT:
            session.exec(delete(table))
    session.flush()
    bootstrap.seed(session=session)


def rows_to_csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(roster.COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _grassroots(size: Size, rng: random.Random) -> list[tuple[str, int]]:
    if size == "small":
        return list(_GRASSROOTS_SMALL)
    units: list[tuple[str, int]] = []
    for place in _PLACES:
        for kind in _KINDS:
            units.append((f"{place}区{kind}管理所", rng.randint(25, 35)))
    return units[:62]


class _Names:
    """Unique, plausible Chinese names from a seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def next(self) -> str:
        while True:
            length = self._rng.choice((1, 1, 2))
            given = "".join(self._rng.choice(_GIVEN) for _ in range(length))
            name = self._rng.choice(_SURNAMES) + given
            if name not in self._used:
                self._used.add(name)
                return name


def demo_rows(size: Size = "small") -> list[dict[str, str]]:
    """The demo roster as rows of the import template."""
    rng = random.Random(20261125)
    names = _Names(rng)
    units = _grassroots(size, rng)
    rows: list[dict[str, str]] = []
    counter = iter(range(1, 100_000))

    def add(unit: str, kind: str, branch: str, **flags: bool | str) -> dict[str, str]:
        row = {
            "编号": f"P{next(counter):05d}",
            "姓名": names.next(),
            "单位": unit,
            "单位类型": kind,
            "党支部": branch,
            "党组书记": "是" if flags.get("party_secretary") else "否",
            "班子成员": "是" if flags.get("leadership") else "否",
            "党员干部": "是" if flags.get("cadre") else "否",
            "支部书记": "是" if flags.get("secretary") else "否",
            "年老体弱": "是" if flags.get("elderly") else "否",
            "联系支部": str(flags.get("liaison", "")),
        }
        rows.append(row)
        return row

    # 领导班子 of 7: the 党组书记 and six members; each member is liaison of some branches.
    branch_names = [f"{unit}党支部" for unit, _ in units]
    add(ORGAN_UNIT, "机关", ORGAN_BRANCH, party_secretary=True, leadership=True)
    for index in range(6):
        linked = branch_names[index::6]
        add(ORGAN_UNIT, "机关", ORGAN_BRANCH, leadership=True, liaison="、".join(linked))
    # The rest of the 机关党支部: its secretary, section chiefs (党员干部), staff, two elderly.
    add(ORGAN_UNIT, "机关", ORGAN_BRANCH, cadre=True, secretary=True)
    for index in range(17):
        add(ORGAN_UNIT, "机关", ORGAN_BRANCH, cadre=index < 5, elderly=index >= 15)
    for (unit, headcount), branch in zip(units, branch_names, strict=True):
        add(unit, "基层单位", branch, cadre=True, secretary=True)
        for index in range(headcount - 1):
            add(unit, "基层单位", branch, cadre=index < 2, elderly=index == headcount - 2)
    return rows


# ---- pingyi demo simulate: a meeting's ballots at a meeting's pace

SIMULATED_TURNOUT = 0.8  # of each group's headcount, as a meeting where most came


@dataclass(frozen=True)
class Simulated:
    ballots: int
    seconds: float


def simulate(
    engine: Engine,
    *,
    minutes: float = 5.0,
    group: str | None = None,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> Simulated:
    """Cast ballots through the real submit path, spread evenly over `minutes`, until each
    group (or `group`: key or name) has ballots from 80 % of its headcount, so the 会议大屏
    moves while a new user watches. Refused on a database that is not the demo."""
    if minutes <= 0:
        raise DemoError("--minutes 应大于 0")
    rng = random.Random()
    with db.transaction(engine) as s:
        if not is_demo(session=s):
            raise DemoError("这不是示例数据库(pingyi demo 载入的):不能模拟投票")
        round_ = rounds.current(session=s)
        if round_ is None or round_.id is None:
            raise DemoError("没有进行中的评议轮次")
        states = {g.group_id: g for g in evaluation.status(session=s, round_id=round_.id)}
        chosen = [
            g
            for key, g in groups.by_key(session=s).items()
            if group is None or group in (key.value, g.name, str(g.id))
        ]
        if not chosen:
            raise DemoError(f"没有评议群体「{group}」")
        plan: list[tuple[ballots.BallotForm, str]] = []
        for g in chosen:
            state = states.get(g.id)
            if state is not None and state.counted:
                say(f"{g.name}:已开箱计票,不再投票")
                continue
            wanted = int(g.headcount * SIMULATED_TURNOUT) - (state.cast if state else 0)
            if wanted <= 0:
                continue
            form = ballots.ballot_form(session=s, round_id=round_.id, group_id=g.id)
            issued = codes.issue(
                actor=demo_history.ACTOR, session=s, round_id=round_.id, group_id=g.id, count=wanted
            )
            plan += [(form, code) for code in issued]
        round_id = round_.id
    rng.shuffle(plan)
    if not plan:
        say("各评议群体都已投票,没有需要模拟的评议票")
        return Simulated(0, 0.0)
    interval = minutes * 60 / len(plan)
    say(f"将在 {minutes:g} 分钟内投出 {len(plan)} 张评议票(约每 {interval:.1f} 秒一张)……")
    began = time.monotonic()
    for number, (form, code) in enumerate(plan, start=1):
        sleep(max(0.0, began + (number - 1) * interval - time.monotonic()))
        with db.transaction(engine) as s:  # the QR link opened on the phone, then 提交
            ballots.open_code(session=s, code=code, round_id=round_id)
        ballots.submit_with_retry(
            engine,
            code,
            demo_history.random_ballot(form, rng),
            round_id=round_id,
            receipt=secrets.token_hex(16),
        )
        if number % 10 == 0 or number == len(plan):
            say(f"已投 {number}/{len(plan)} 张")
    return Simulated(len(plan), round(time.monotonic() - began, 1))
