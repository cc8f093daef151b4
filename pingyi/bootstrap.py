"""`pingyi init`: schema to the newest migration, then the seed defaults. Safe to run again."""

from __future__ import annotations

from sqlalchemy import Engine

from pingyi import criteria, db, groups


def initialize(bind: Engine | None = None) -> None:
    target = bind or db.engine()
    db.migrate(target)
    with db.transaction(target) as session:
        criteria.seed_defaults(session=session)
        groups.seed_groups(session=session)
