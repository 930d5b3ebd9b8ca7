"""timers (status, due_at, instance_id, element_id): the dashboard's running délais are read in
due order, then instance and element; timers share due instants by the thousand (end of the
same day), and (status, due_at) left that tie-break to a sort of every tied timer (0.8 s at
54k instances). The next-due query reads the same index's first entries.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:30:00
"""
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_timers_status_due_instance', 'timers', ['status', 'due_at', 'instance_id', 'element_id'])
    op.drop_index('ix_timers_status_due', table_name='timers')


def downgrade():
    op.create_index('ix_timers_status_due', 'timers', ['status', 'due_at'])
    op.drop_index('ix_timers_status_due_instance', table_name='timers')
