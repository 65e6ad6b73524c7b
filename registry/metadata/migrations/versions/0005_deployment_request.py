"""deployments: the workflow run (Airflow run id) that asked for each one

A page that triggered a deploy follows its run, then finds the deployment it made (its URL) or
the step and reason it failed at, by this id.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=250), nullable=True))
        batch_op.create_index('ix_deployments_request', ['request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_index('ix_deployments_request')
        batch_op.drop_column('request_id')
