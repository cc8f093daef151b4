"""Which pages each person's menu lists. The pages check the role again themselves (see
`pingyi.ui.auth.require`): the menu only spares people links they cannot use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pingyi.auth import Role
from pingyi.ui.auth import User

ADMIN, REVIEWER, MEMBER = Role.ADMIN, Role.REVIEWER, Role.MEMBER


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    url_path: str
    section: str
    shown_to: Callable[[User], bool]


def _any(*roles: Role) -> Callable[[User], bool]:
    return lambda user: user.has(*roles)


def _everyone(_user: User) -> bool:
    return True


def _inspectors(user: User) -> bool:
    return user.has(ADMIN) or user.in_leading_group


MINE, REVIEW, OFFICE = "我的", "评议工作", "领导小组办公室"
MEETING_URL = "meeting"


def bare(url_path: str, query: dict[str, str]) -> bool:
    """Pages drawn without the menu and the sidebar: the ballot, and the meeting screen's
    projected view (/meeting?screen=1)."""
    return url_path == BALLOT.url_path or (url_path == MEETING_URL and query.get("screen") == "1")


# In menu order; the first page of the list is where a logged-in person lands.
PAGES = [
    PageSpec("pages/home.py", "首页", ":material/home:", "", "", _everyone),
    PageSpec("pages/summary.py", "自我小结", ":material/edit_note:", "summary", MINE, _any(MEMBER)),
    PageSpec(
        "pages/my_reviews.py", "我收到的点评", ":material/reviews:", "mine", MINE, _any(MEMBER)
    ),
    PageSpec(
        "pages/rectification.py",
        "整改落实",
        ":material/task_alt:",
        "rectification",
        MINE,
        _any(MEMBER, ADMIN),
    ),
    PageSpec(
        "pages/inspection.py",
        "调研督查",
        ":material/travel_explore:",
        "inspection",
        REVIEW,
        _inspectors,
    ),
    PageSpec(
        "pages/briefing.py",
        "通报情况",
        ":material/summarize:",
        "briefing",
        REVIEW,
        _any(ADMIN, REVIEWER),
    ),
    PageSpec(
        "pages/review.py", "开展点评", ":material/rate_review:", "review", REVIEW, _any(REVIEWER)
    ),
    PageSpec(
        "pages/highlights.py", "好经验好做法", ":material/star:", "highlights", REVIEW, _everyone
    ),
    PageSpec("pages/rounds.py", "轮次与进度", ":material/event:", "rounds", OFFICE, _any(ADMIN)),
    PageSpec("pages/roster.py", "名册", ":material/groups:", "roster", OFFICE, _any(ADMIN)),
    PageSpec(
        "pages/relations.py",
        "评议关系",
        ":material/account_tree:",
        "relations",
        OFFICE,
        _any(ADMIN),
    ),
    PageSpec(
        "pages/criteria.py", "测评内容", ":material/checklist:", "criteria", OFFICE, _any(ADMIN)
    ),
    PageSpec(
        "pages/accounts.py", "账号", ":material/manage_accounts:", "accounts", OFFICE, _any(ADMIN)
    ),
    PageSpec("pages/codes.py", "测评码", ":material/qr_code_2:", "codes", OFFICE, _any(ADMIN)),
    PageSpec(
        "pages/meeting.py", "会议大屏", ":material/co_present:", MEETING_URL, OFFICE, _any(ADMIN)
    ),
    PageSpec("pages/results.py", "结果", ":material/leaderboard:", "results", OFFICE, _any(ADMIN)),
    PageSpec("pages/settings.py", "评分设置", ":material/tune:", "settings", OFFICE, _any(ADMIN)),
    PageSpec("pages/audit.py", "操作日志", ":material/history:", "audit", OFFICE, _any(ADMIN)),
    PageSpec("pages/password.py", "修改密码", ":material/password:", "password", MINE, _everyone),
]

LOGIN = PageSpec("pages/login.py", "登录", ":material/login:", "login", "", _everyone)
SETUP = PageSpec(
    "pages/setup.py", "创建管理员", ":material/admin_panel_settings:", "setup", "", _everyone
)
PASSWORD = PAGES[-1]
# The 群众评议 ballot: evaluators (no account, QR link) never see a menu.
BALLOT = PageSpec("pages/ballot.py", "群众评议", ":material/how_to_vote:", "ballot", "", _everyone)


ALL = [*PAGES, LOGIN, SETUP, BALLOT]


def menu(user: User | None, *, has_admin: bool) -> list[PageSpec]:
    """The pages this person's menu lists, the landing page first. Every other page is still
    reachable by its URL, hidden, and says itself why it shows nothing."""
    if user is None:
        # The very first start: nobody can log in before the first 管理员 exists.
        return [SETUP, LOGIN] if not has_admin else [LOGIN]
    if user.must_change_password:
        return [PASSWORD]
    return [spec for spec in PAGES if spec.shown_to(user)]
