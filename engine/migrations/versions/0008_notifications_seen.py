"""users.notifications_seen_at: the in-app notification list's badge counts what came after

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 01:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('notifications_seen_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_notification_outbox_login_created', 'notification_outbox', ['login', 'created_at'])


def downgrade():
    op.drop_index('ix_notification_outbox_login_created', table_name='notification_outbox')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('notifications_seen_at')
