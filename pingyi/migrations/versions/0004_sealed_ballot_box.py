"""sealed ballot box: ballots wait sealed in ballot_box until their group is counted (开箱计票)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 00:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ballot_box',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_with_rowid=False,
    )
    op.create_table('group_evaluation',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.Column('sealed', sa.Boolean(), nullable=False),
    sa.Column('ballots', sa.Integer(), nullable=False),
    sa.Column('uniform', sa.Integer(), nullable=False),
    sa.Column('counted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'group_id'),
    )
    # Ballots stored before the box existed: those of closed rounds count as counted (not yet
    # sealed: the next `pingyi evaluation close` rewrites them); those of open rounds are
    # shuffled in with the box when their group is closed.
    op.execute(
        """
        INSERT INTO group_evaluation (round_id, group_id, counted, sealed, ballots, uniform)
        SELECT ballot.round_id, ballot.group_id, round.step = 'closed', FALSE, COUNT(*),
               SUM(CASE WHEN ballot.uniform THEN 1 ELSE 0 END)
        FROM ballot JOIN round ON round.id = ballot.round_id
        GROUP BY ballot.round_id, ballot.group_id, round.step
        """
    )
    # One-刀切 per minute, with the order of the rows, gave each ballot's minute.
    op.execute("UPDATE ballot_tally SET uniform = 0")


def downgrade() -> None:
    # The release before the box could not read it: sealed ballots would be lost.
    waiting = op.get_bind().execute(sa.text('SELECT count(*) FROM ballot_box')).scalar()
    if waiting:
        raise RuntimeError(
            f'票箱中还有 {waiting} 张未计票的评议票:请先开箱计票(pingyi evaluation close)再回退版本'
        )
    op.drop_table('group_evaluation')
    op.drop_table('ballot_box')
