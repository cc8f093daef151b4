"""rating forms per evaluator group: 分项 or 总体, the group's own scale, 不了解 and comments

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 04:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_form',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('unknown', sa.Boolean(), nullable=False),
    sa.Column('comments', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['evaluator_group.id'], ),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('round_id', 'group_id')
    )
    op.create_index(op.f('ix_group_form_group_id'), 'group_form', ['group_id'], unique=False)
    op.create_index(op.f('ix_group_form_round_id'), 'group_form', ['round_id'], unique=False)
    with op.batch_alter_table('scale_level') as batch:
        batch.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch.create_index(batch.f('ix_scale_level_group_id'), ['group_id'], unique=False)
        batch.create_foreign_key(
            'fk_scale_level_group_id_evaluator_group', 'evaluator_group', ['group_id'], ['id']
        )


def downgrade() -> None:
    # A round whose groups rate on their own scales or 总体 cannot be read by the release
    # before: its ratings name levels and an overall item that release does not know.
    bind = op.get_bind()
    own = bind.execute(
        sa.text("SELECT count(*) FROM scale_level WHERE group_id IS NOT NULL")
    ).scalar()
    overall = bind.execute(
        sa.text("SELECT count(*) FROM group_form WHERE kind <> 'itemized'")
    ).scalar()
    if own or overall:
        raise RuntimeError('有评议群体使用了总体评议或自己的评价等级,旧版本无法读取,不能回退')
    with op.batch_alter_table('scale_level') as batch:
        batch.drop_constraint('fk_scale_level_group_id_evaluator_group', type_='foreignkey')
        batch.drop_index(batch.f('ix_scale_level_group_id'))
        batch.drop_column('group_id')
    op.drop_index(op.f('ix_group_form_round_id'), table_name='group_form')
    op.drop_index(op.f('ix_group_form_group_id'), table_name='group_form')
    op.drop_table('group_form')
