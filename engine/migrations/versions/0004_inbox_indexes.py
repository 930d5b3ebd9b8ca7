"""inbox at volume: candidate rows carry the task's state and due date, index-ordered
"assigned to me", reminders/escalations due on a real column

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 23:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), nullable=False, server_default='open'))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE task_candidates SET "
               "state = (SELECT h.state FROM human_tasks h WHERE h.id = task_candidates.task_id), "
               "due_at = (SELECT h.due_at FROM human_tasks h WHERE h.id = task_candidates.task_id)")
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.drop_index('ix_task_candidates_lookup')
        batch_op.create_index('ix_task_candidates_inbox', ['kind', 'name', 'state', 'due_at', 'task_id'],
                              unique=False)

    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index('ix_human_tasks_assignee_state')
        batch_op.create_index('ix_human_tasks_assignee_state_due', ['assignee', 'state', 'due_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_human_tasks_state_notice', ['state', 'notice_at'], unique=False)
    # Open tasks that draw a reminder or an escalation: due for a first look at once; the
    # notifier then sets the exact next instant.
    op.execute("UPDATE human_tasks SET notice_at = created_at WHERE state = 'open' AND due_at IS NOT NULL "
               "AND (CAST(properties AS TEXT) LIKE '%reminder_days%' OR CAST(properties AS TEXT) LIKE '%escalate_to%')")


def downgrade():
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_state_notice')
        batch_op.drop_index('ix_human_tasks_assignee_state_due')
        batch_op.create_index('ix_human_tasks_assignee_state', ['assignee', 'state'], unique=False)
        batch_op.drop_column('notice_at')
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.drop_index('ix_task_candidates_inbox')
        batch_op.create_index('ix_task_candidates_lookup', ['kind', 'name', 'task_id'], unique=False)
        batch_op.drop_column('due_at')
        batch_op.drop_column('state')
