"""expectations attached through a reference belong to the model's name

Before this, ``modelyard models expect NAME@ALIAS`` (or ``NAME/VERSION``) stored the reference as
the model name, and batch scoring, which looks expectations up by name, never applied them.
A model name holds neither '@' nor '/', so such a row's model is the text before either.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:00:00
"""

import re

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

expectations = sa.table('model_expectations', sa.column('id', sa.Integer), sa.column('model_name', sa.String))


def upgrade() -> None:
    connection = op.get_bind()
    stored_refs = connection.execute(sa.select(expectations.c.id, expectations.c.model_name).where(
        sa.or_(expectations.c.model_name.contains('@'), expectations.c.model_name.contains('/')))).all()
    for row_id, ref in stored_refs:
        name = re.split(r'[@/]', ref.strip().removeprefix('models:/'), maxsplit=1)[0]
        connection.execute(expectations.update().where(expectations.c.id == row_id).values(model_name=name))


def downgrade() -> None:
    pass  # the reference each row was attached through is not kept
