"""activity history: one row per activity instance (Camunda's ACT_HI_ACTINST); audit order

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
    op.create_table('activity_history',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('parent_id', sa.String(length=36), nullable=True),
    sa.Column('activity_id', sa.String(length=255), nullable=False),
    sa.Column('activity_name', sa.String(length=255), nullable=True),
    sa.Column('activity_type', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_seq', sa.BigInteger(), nullable=True),
    sa.Column('duration_ms', sa.BigInteger(), nullable=True),
    sa.Column('canceled', sa.Boolean(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('assignee', sa.String(length=128), nullable=True),
    sa.Column('called_process_instance_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('activity_history', schema=None) as batch_op:
        batch_op.create_index('ix_activity_history_instance_seq', ['instance_id', 'seq'], unique=False)
        batch_op.create_index('ix_activity_history_activity', ['activity_id', 'activity_type'], unique=False)


def downgrade():
    with op.batch_alter_table('activity_history', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_history_activity')
        batch_op.drop_index('ix_activity_history_instance_seq')
    op.drop_table('activity_history')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('seq')
