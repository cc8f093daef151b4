"""the minimum number of ballots kept with the other scoring settings, in Round.settings

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 13:30:00.000000
"""
from typing import Literal

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

KEY = 'min_ballots'  # scoring.KEY_MIN_BALLOTS
DEFAULT = 5
# SQLite adds and drops this column in place (ALTER TABLE … DROP COLUMN, SQLite 3.35+): batch
# mode's copy of the table would drop the old "round", and with it, by ON DELETE CASCADE, every
# target, assignment and criterion of every round.
IN_PLACE: Literal['never'] = 'never'

# The columns as this migration sees them, whatever the models say later.
rounds = sa.table(
    'round',
    sa.column('id', sa.Integer()),
    sa.column('min_ballots', sa.Integer()),
    sa.column('settings', sa.JSON()),
)


def upgrade() -> None:
    bind = op.get_bind()
    for id_, minimum, settings in bind.execute(
        sa.select(rounds.c.id, rounds.c.min_ballots, rounds.c.settings)
    ).all():
        bind.execute(
            rounds.update()
            .where(rounds.c.id == id_)
            .values(settings={**(settings or {}), KEY: minimum})
        )
    with op.batch_alter_table('round', recreate=IN_PLACE) as batch:
        batch.drop_column('min_ballots')


def downgrade() -> None:
    # A column added in place and NOT NULL needs a default for the rows already there: the
    # release before's own default, replaced below by each round's minimum.
    with op.batch_alter_table('round', recreate=IN_PLACE) as batch:
        batch.add_column(
            sa.Column('min_ballots', sa.Integer(), nullable=False, server_default=str(DEFAULT))
        )
    bind = op.get_bind()
    for id_, settings in bind.execute(sa.select(rounds.c.id, rounds.c.settings)).all():
        kept = dict(settings or {})
        minimum = kept.pop(KEY, DEFAULT)
        bind.execute(
            rounds.update().where(rounds.c.id == id_).values(min_ballots=minimum, settings=kept)
        )
