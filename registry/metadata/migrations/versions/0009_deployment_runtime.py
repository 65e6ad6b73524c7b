"""deployments.runtime: the runtime a deployment serves with (native or compiled) and the
measurements that chose it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.add_column(sa.Column('runtime', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.drop_column('runtime')
