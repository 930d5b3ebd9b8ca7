"""start events: timers and message subscriptions that belong to a process definition
(timer and message start events) rather than to an instance

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.alter_column('instance_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('definition_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
        batch_op.create_foreign_key('fk_timers_definition_id', 'process_definitions', ['definition_id'], ['id'])
    with op.batch_alter_table('message_subscriptions', schema=None) as batch_op:
        batch_op.alter_column('instance_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('definition_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_message_subscriptions_definition_id', 'process_definitions',
                                    ['definition_id'], ['id'])


def downgrade():
    op.execute("DELETE FROM timers WHERE instance_id IS NULL")
    op.execute("DELETE FROM message_subscriptions WHERE instance_id IS NULL")
    with op.batch_alter_table('message_subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_message_subscriptions_definition_id', type_='foreignkey')
        batch_op.drop_column('definition_id')
        batch_op.alter_column('instance_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_constraint('fk_timers_definition_id', type_='foreignkey')
        batch_op.drop_column('details')
        batch_op.drop_column('definition_id')
        batch_op.alter_column('instance_id', existing_type=sa.Integer(), nullable=False)
