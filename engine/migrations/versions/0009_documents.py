"""documents (attachments, generated letters, portal filings) and portal_invitations

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 02:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'documents',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('instance_id', sa.Integer(), sa.ForeignKey('instances.id'), nullable=False),
        sa.Column('task_id', sa.String(36), nullable=True),
        sa.Column('element_id', sa.String(255), nullable=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('media_type', sa.String(127), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('source', sa.String(16), nullable=False),
        sa.Column('uploaded_by', sa.String(128), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_documents_instance', 'documents', ['instance_id', 'id'])
    op.create_table(
        'portal_invitations',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('instance_id', sa.Integer(), sa.ForeignKey('instances.id'), nullable=False),
        sa.Column('element_id', sa.String(255), nullable=False),
        sa.Column('body', sa.String(255), nullable=False),
        sa.Column('email', sa.String(255), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('receipt_template', sa.String(255), nullable=True),
        sa.Column('letter_document_id', sa.Integer(), sa.ForeignKey('documents.id'), nullable=True),
        sa.Column('receipt_document_id', sa.Integer(), sa.ForeignKey('documents.id'), nullable=True),
    )
    op.create_index('ix_portal_invitations_instance', 'portal_invitations', ['instance_id', 'element_id'])


def downgrade():
    op.drop_index('ix_portal_invitations_instance', table_name='portal_invitations')
    op.drop_table('portal_invitations')
    op.drop_index('ix_documents_instance', table_name='documents')
    op.drop_table('documents')
