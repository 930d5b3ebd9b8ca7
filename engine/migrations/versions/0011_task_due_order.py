"""human_tasks (state, due_at, id): the dashboard's overdue and upcoming lists are ordered by
due date, then id, and many tasks share a due date (due by the end of the same day):
with (state, due_at) alone each page sorted every task of the tied dates (thousands).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 07:00:00
"""
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_human_tasks_state_due_id', 'human_tasks', ['state', 'due_at', 'id'])
    op.drop_index('ix_human_tasks_state_due', table_name='human_tasks')


def downgrade():
    op.create_index('ix_human_tasks_state_due', 'human_tasks', ['state', 'due_at'])
    op.drop_index('ix_human_tasks_state_due_id', table_name='human_tasks')
