"""Accounts: the office's 管理员 and every party member; passwords, lockout and roles.

Evaluators never have an account (they vote with a 测评码). Passwords are argon2 hashes. A
password a person chose gets argon2's default cost (64 MiB); a one-time initial password is
random (10 characters from 31, about 50 bits), so a cheaper argon2 cost loses nothing and the
office can make accounts for a whole bureau in seconds. Either must be changed at first login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from pingyi import audit, logins, rounds
from pingyi.audit import Action
from pingyi.models import Account, Branch, LeaderAssignment, Member

MAX_FAILED_LOGINS = 5  # a sixth try is refused until the lock ends
LOCK_MINUTES = 15
IDLE_MINUTES = logins.IDLE_MINUTES  # a login with no activity for this long ends
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128  # argon2 takes any length; this only refuses pasted nonsense
USERNAME_LENGTH = 40
DISPLAY_NAME_LENGTH = 50  # the column's size
INITIAL_PASSWORD_LENGTH = 10
# No look-alikes (0/O, 1/I/l) on a printed list of initial passwords.
INITIAL_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"

_CHOSEN = PasswordHasher()
_INITIAL = PasswordHasher(time_cost=2, memory_cost=8 * 1024, parallelism=1)


class Role(StrEnum):
    ADMIN = "管理员"  # the leading group's office
    REVIEWER = "点评领导"  # 党组书记, 班子成员, 支部书记: whom the rules make reviewers
    MEMBER = "党员"


class AuthError(ValueError):
    """A request about accounts that cannot be done; the message is in Chinese."""


@dataclass(frozen=True)
class LoginResult:
    account: Account | None  # None: refused, `message` says why
    message: str = ""
    locked_now: bool = False  # this attempt was the one that locked the account


@dataclass(frozen=True)
class InitialPassword:
    """One line of the printable list the office hands out."""

    username: str
    name: str
    branch: str
    password: str


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AuthError(f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符")
    if password.isdigit() or password.isalpha():
        raise AuthError("密码需要同时包含字母和数字(或其他符号)")


def _check_username(username: str) -> str:
    username = username.strip()
    if not username:
        raise AuthError("请填写用户名")
    if len(username) > USERNAME_LENGTH:
        raise AuthError(f"用户名不能超过 {USERNAME_LENGTH} 个字符")
    if any(ch.isspace() for ch in username):
        raise AuthError("用户名不能包含空格")
    return username


def new_initial_password() -> str:
    return "".join(secrets.choice(INITIAL_ALPHABET) for _ in range(INITIAL_PASSWORD_LENGTH))


def _verify(password_hash: str, password: str) -> bool:
    try:
        # Either hasher verifies either hash: the cost is read from the hash itself.
        return _CHOSEN.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# ---- the office's 管理员


def has_admin(*, session: Session) -> bool:
    query = select(Account.id).where(col(Account.is_admin), col(Account.active))
    return session.exec(query).first() is not None


def create_admin(
    *, session: Session, username: str, password: str, display_name: str = "", actor: str
) -> Account:
    """A 管理员 with a password they chose (no change needed at first login)."""
    account = _new_admin(session, username, password, display_name)
    audit.record(session=session, actor=actor, action=Action.CREATE_ADMIN, detail=account.username)
    return account


def _new_admin(session: Session, username: str, password: str, display_name: str) -> Account:
    username = _check_username(username)
    check_new_password(password)
    display_name = display_name.strip() or username
    if len(display_name) > DISPLAY_NAME_LENGTH:
        raise AuthError(f"姓名不能超过 {DISPLAY_NAME_LENGTH} 个字")
    if session.exec(select(Account).where(Account.username == username)).first():
        raise AuthError(f"用户名「{username}」已被使用")
    account = Account(
        username=username,
        display_name=display_name,
        is_admin=True,
        password_hash=_CHOSEN.hash(password),
        must_change_password=False,
    )
    session.add(account)
    session.flush()
    return account


def create_first_admin(
    *, session: Session, username: str, password: str, display_name: str = ""
) -> Account:
    """The first-run page's 管理员: refused once any 管理员 exists. The log names the new
    管理员 as who did it: nobody else is there yet."""
    if has_admin(session=session):
        raise AuthError("系统已有管理员,请用管理员账号登录;新的管理员由现有管理员添加")
    account = _new_admin(session, username, password, display_name)
    audit.record(
        session=session, actor=account.username, action=Action.CREATE_ADMIN, detail="首次启动创建"
    )
    return account


# ---- login, lockout, password changes


def login(
    *, session: Session, username: str, password: str, now: datetime | None = None
) -> LoginResult:
    """Check a password; counts failures and locks after five. Commit even when refused."""
    now = now or _now()
    account = session.exec(select(Account).where(Account.username == username.strip())).first()
    if account is None or not account.active:
        _CHOSEN.hash(password)  # as slow as a real check: timing does not reveal usernames
        return LoginResult(None, "用户名或密码不正确")
    if is_locked(account, now) and account.locked_until is not None:
        minutes = -(-(_aware(account.locked_until) - now).seconds // 60)
        return LoginResult(None, f"密码错误次数过多,账号已锁定,请 {minutes} 分钟后再试")
    if not _verify(account.password_hash, password):
        account.failed_logins += 1
        locked = account.failed_logins >= MAX_FAILED_LOGINS
        if locked:
            account.failed_logins = 0
            account.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            message = f"密码连续错误 {MAX_FAILED_LOGINS} 次,账号已锁定 {LOCK_MINUTES} 分钟"
        else:
            left = MAX_FAILED_LOGINS - account.failed_logins
            message = f"用户名或密码不正确(再错 {left} 次将锁定账号 {LOCK_MINUTES} 分钟)"
        session.add(account)
        session.flush()
        if locked:  # the one who typed is the actor: nobody is logged in yet
            audit.record(
                session=session, actor=account.username, action=Action.LOCK_ACCOUNT, detail=message
            )
        return LoginResult(None, message, locked_now=locked)
    account.failed_logins = 0
    account.locked_until = None
    session.add(account)
    session.flush()
    return LoginResult(account)


def change_password(
    *, session: Session, account_id: int, old_password: str, new_password: str
) -> Account:
    account = session.get(Account, account_id)
    if account is None or not account.active:
        raise AuthError("账号不存在或已停用")
    if not _verify(account.password_hash, old_password):
        raise AuthError("原密码不正确")
    if new_password == old_password:
        raise AuthError("新密码不能与原密码相同")
    check_new_password(new_password)
    account.password_hash = _CHOSEN.hash(new_password)
    account.must_change_password = False
    session.add(account)
    logins.end_all(session=session, account_id=account_id)  # the tab that changed it logs in anew
    session.flush()
    return account


def is_locked(account: Account, now: datetime | None = None) -> bool:
    return account.locked_until is not None and _aware(account.locked_until) > (now or _now())


def unlock(*, session: Session, account_id: int, actor: str) -> Account:
    account = _get(session, account_id)
    account.failed_logins = 0
    account.locked_until = None
    session.add(account)
    session.flush()
    audit.record(
        session=session, actor=actor, action=Action.UNLOCK_ACCOUNT, detail=account.username
    )
    return account


def reset_password(*, session: Session, account_id: int, actor: str) -> InitialPassword:
    """A new one-time password, to be changed at the next login; also lifts a lock."""
    account = _get(session, account_id)
    password = new_initial_password()
    account.password_hash = _INITIAL.hash(password)
    account.must_change_password = True
    account.failed_logins = 0
    account.locked_until = None
    session.add(account)
    logins.end_all(session=session, account_id=account_id)
    session.flush()
    audit.record(
        session=session, actor=actor, action=Action.RESET_PASSWORD, detail=account.username
    )
    return _initial_line(session, account, password)


def set_active(*, session: Session, account_id: int, active: bool, actor: str) -> Account:
    account = _get(session, account_id)
    if not active and account.is_admin and _other_admins(session, account) == 0:
        raise AuthError("不能停用最后一个管理员账号")
    account.active = active
    session.add(account)
    if not active:
        logins.end_all(session=session, account_id=account_id)
    session.flush()
    action = Action.ENABLE_ACCOUNT if active else Action.DISABLE_ACCOUNT
    audit.record(session=session, actor=actor, action=action, detail=account.username)
    return account


def _other_admins(session: Session, account: Account) -> int:
    query = select(Account.id).where(
        col(Account.is_admin), col(Account.active), Account.id != account.id
    )
    return len(session.exec(query).all())


def _get(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise AuthError("找不到该账号")
    return account


# ---- accounts for the roster


def create_member_accounts(
    *, session: Session, member_ids: list[int] | None = None, actor: str
) -> list[InitialPassword]:
    """Accounts, with one-time passwords, for active members who have none yet (all of them,
    or those in `member_ids`). The username is the member's roster 编号."""
    have = set(session.exec(select(Account.member_id).where(col(Account.member_id).is_not(None))))
    taken = set(session.exec(select(Account.username)))
    query = select(Member).where(col(Member.active)).order_by(col(Member.id))
    if member_ids is not None:
        query = query.where(col(Member.id).in_(member_ids))
    made: list[InitialPassword] = []
    for member in session.exec(query):
        if member.id in have:
            continue
        if member.roster_id in taken:
            raise AuthError(f"用户名「{member.roster_id}」已被其他账号使用,请先改名")
        password = new_initial_password()
        account = Account(
            username=member.roster_id,
            display_name=member.name,
            member_id=member.id,
            password_hash=_INITIAL.hash(password),
            must_change_password=True,
        )
        session.add(account)
        session.flush()
        made.append(_initial_line(session, account, password))
    detail = f"为 {len(made)} 名党员生成账号和初始密码"
    audit.record(session=session, actor=actor, action=Action.CREATE_ACCOUNTS, detail=detail)
    return made


def _initial_line(session: Session, account: Account, password: str) -> InitialPassword:
    member = session.get(Member, account.member_id) if account.member_id else None
    branch = session.get(Branch, member.branch_id) if member and member.branch_id else None
    return InitialPassword(
        username=account.username,
        name=account.display_name,
        branch=branch.name if branch else "",
        password=password,
    )


def members_without_account(*, session: Session) -> list[Member]:
    have = select(Account.member_id).where(col(Account.member_id).is_not(None))
    query = select(Member).where(col(Member.active), col(Member.id).not_in(have))
    return list(session.exec(query.order_by(col(Member.id))))


def accounts(*, session: Session) -> list[Account]:
    query = select(Account).order_by(col(Account.is_admin).desc(), col(Account.id))
    return list(session.exec(query))


# ---- roles


def roles(*, session: Session, account: Account) -> frozenset[Role]:
    """What the account may do: 管理员 by its flag; 党员 for a member; 点评领导 for a member
    the current round's rules make a reviewer (before any round: by the roster's flags)."""
    found: set[Role] = {Role.ADMIN} if account.is_admin else set()
    if account.member_id is None:
        return frozenset(found)
    member = session.get(Member, account.member_id)
    if member is None or not member.active:
        return frozenset(found)
    found.add(Role.MEMBER)
    if is_reviewer(session=session, member=member):
        found.add(Role.REVIEWER)
    return frozenset(found)


def is_reviewer(*, session: Session, member: Member) -> bool:
    current = rounds.current(session=session)
    if current is None:
        return member.is_party_secretary or member.is_leadership or member.is_branch_secretary
    query = select(LeaderAssignment.id).where(
        LeaderAssignment.round_id == current.id, LeaderAssignment.reviewer_id == member.id
    )
    return session.exec(query).first() is not None


def in_leading_group(member: Member | None) -> bool:
    """党组书记 and 班子成员: the leading group that does 调研督查."""
    return member is not None and (member.is_party_secretary or member.is_leadership)
