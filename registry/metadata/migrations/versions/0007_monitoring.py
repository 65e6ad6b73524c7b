"""monitoring_runs and monitoring_thresholds: what each monitoring pass found, and when to alert

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'monitoring_runs',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('model_name', sa.String(256), nullable=False),
        sa.Column('model_version', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(16), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('scoring_run_id', sa.String(200), nullable=True),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('alerts', sa.JSON(), nullable=False),
        sa.Column('mlflow_run_id', sa.String(64), nullable=True),
    )
    op.create_index('ix_monitoring_runs_model', 'monitoring_runs', ['model_name', 'window_end'])
    op.create_table(
        'monitoring_thresholds',
        sa.Column('model_name', sa.String(256), primary_key=True),
        sa.Column('values', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('monitoring_thresholds')
    op.drop_index('ix_monitoring_runs_model', table_name='monitoring_runs')
    op.drop_table('monitoring_runs')
