"""The 操作日志: what the office did (accounts, roster imports, round steps, codes, settings,
results), written in the same transaction as the change itself, so neither exists alone."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session, col, select

from pingyi.models import AuditEvent

CLI_ACTOR = "命令行"  # changes made with the `pingyi` command on the office machine


class Action(StrEnum):
    """Every action the log knows; the values are what is stored and shown on 操作日志, so an
    old log reads the same."""

    LOAD_DEMO = "加载示例数据"
    IMPORT_ROSTER = "导入名册"
    CREATE_ROUND = "新建轮次"
    OPEN_ROUND = "开启轮次"
    MOVE_STEP = "推进阶段"
    CREATE_ADMIN = "创建管理员"
    CREATE_ACCOUNTS = "生成账号"
    RESET_PASSWORD = "重置密码"
    LOCK_ACCOUNT = "账号锁定"
    UNLOCK_ACCOUNT = "解锁账号"
    ENABLE_ACCOUNT = "启用账号"
    DISABLE_ACCOUNT = "停用账号"
    ISSUE_CODES = "发放测评码"
    REVOKE_CODE = "作废测评码"
    EDIT_CRITERIA = "修改测评项目"
    EDIT_SCALE = "修改评价等级"
    EDIT_RULES = "修改评议规则"
    EDIT_FORM = "修改评议表"
    EDIT_HEADCOUNTS = "修改评议群体人数"
    EDIT_SCORING = "修改评分设置"
    PUBLISH_RESULTS = "公布结果"
    HIDE_RESULTS = "隐藏结果"
    COUNT_BOX = "开箱计票"
    PUBLISH_HIGHLIGHT = "发布好经验"
    WITHDRAW_HIGHLIGHT = "撤下好经验"
    BACKUP = "备份数据库"
    RESTORE = "恢复数据库"
    GUESSING = "测评码猜测"  # the ballot page's guard against trying codes


def record(*, session: Session, actor: str, action: Action, detail: str = "") -> AuditEvent:
    event = AuditEvent(actor=actor[:50], action=action[:50], detail=detail[:1000])
    session.add(event)
    session.flush()
    return event


def events(*, session: Session, action: str | None = None, limit: int = 500) -> list[AuditEvent]:
    """The newest events first, of one action or of all."""
    query = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(session.exec(query))


def actions(*, session: Session) -> list[str]:
    return sorted(set(session.exec(select(AuditEvent.action))))
