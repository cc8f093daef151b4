"""answers stay on the device: no server drafts; the submitting device's receipt on the code

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 20:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Unsubmitted answers were kept here by code hash; they now never leave the device.
    op.drop_table('draft')
    with op.batch_alter_table('evaluation_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('evaluation_code', schema=None) as batch_op:
        batch_op.drop_column('receipt')
    op.create_table('draft',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('code_hash')
    )
