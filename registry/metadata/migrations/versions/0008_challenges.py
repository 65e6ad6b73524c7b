"""challenges and retraining_policies: a challenger version behind a champion's URL, its rule and
its outcome; when a model is retrained by itself and feeds a challenge

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'challenges',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('model_name', sa.String(256), nullable=False),
        sa.Column('champion_version', sa.Integer(), nullable=False),
        sa.Column('challenger_version', sa.Integer(), nullable=False),
        sa.Column('deployment_id', sa.Integer(), sa.ForeignKey('deployments.id'), nullable=True),
        sa.Column('mode', sa.String(16), nullable=False),
        sa.Column('percent', sa.Float(), nullable=False),
        sa.Column('sticky_header', sa.String(200), nullable=True),
        sa.Column('rule', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_by', sa.String(200), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_by', sa.String(200), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=True),
        sa.Column('evaluation', sa.JSON(), nullable=False),
    )
    op.create_index('ix_challenges_model', 'challenges', ['model_name', 'status'])
    op.create_table(
        'retraining_policies',
        sa.Column('model_name', sa.String(256), primary_key=True),
        sa.Column('values', sa.JSON(), nullable=False),
        sa.Column('last_retrained_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('retraining_policies')
    op.drop_index('ix_challenges_model', table_name='challenges')
    op.drop_table('challenges')
