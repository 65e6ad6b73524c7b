"""deployments.replicas: each replica's port and processes when a deployment runs several

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('deployments', sa.Column('replicas', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.drop_column('replicas')
