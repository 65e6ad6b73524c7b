"""deployments.bento_error: why the bento of a deployment served before it was built (a swap's)
failed to build; with no tag and no error, it is still building

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 11:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.add_column(sa.Column('bento_error', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.drop_column('bento_error')
