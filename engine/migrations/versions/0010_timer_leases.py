"""timers.locked_by, timers.lock_expires_at: a worker's lease on the due timers it claimed

Workers claim a batch of due timers (lease committed), then fire each instance in its own
transaction; the others skip leased timers until the lease expires (engine.time.timer_claims).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 06:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_by', sa.String(64), nullable=True))
        batch_op.add_column(sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_column('lock_expires_at')
        batch_op.drop_column('locked_by')
