"""`pingyi init`: schema to the newest migration, then the seed defaults. Safe to run again."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from pingyi import criteria, db, groups


def seed(*, session: Session) -> None:
    """The 方案's criteria, scale and evaluator groups, where they are not there yet."""
    criteria.seed_defaults(session=session)
    groups.seed_groups(session=session)


def initialize(bind: Engine | None = None) -> None:
    # The seed runs in the migration's transaction and lock: app processes starting together
    # on a new database would otherwise each find no defaults and each add them.
    db.migrate(bind or db.engine(), then=seed)
