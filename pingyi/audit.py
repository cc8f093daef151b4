"""The 操作日志: what the office did (accounts, roster imports, round steps, codes, settings,
results), written in the same transaction as the change itself, so neither exists alone."""

from __future__ import annotations

from sqlmodel import Session, col, select

from pingyi.models import AuditEvent

CLI_ACTOR = "命令行"  # changes made with the `pingyi` command on the office machine


def record(*, session: Session, actor: str, action: str, detail: str = "") -> AuditEvent:
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
