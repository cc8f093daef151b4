"""login sessions: a browser's login kept across reloads and restarts by an HttpOnly cookie

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 09:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('ticket_hash', sa.String(length=64), nullable=True),
    sa.Column('ticket_expires', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('password_mark', sa.String(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_hash'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_login_session_account_id'), 'login_session', ['account_id'], unique=False)


def downgrade() -> None:
    # Only logins are lost: everyone logs in again.
    op.drop_index(op.f('ix_login_session_account_id'), table_name='login_session')
    op.drop_table('login_session')
