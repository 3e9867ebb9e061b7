"""Monitoring hub: per-minute/hour/day rollups of the spend ledger; drill-down indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bastion.store import rollups

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_rollup",
        sa.Column("grain", sa.Integer, primary_key=True),
        sa.Column("dim", sa.String(8), primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("org_id", sa.String(40), primary_key=True),
        sa.Column("team_id", sa.String(40), primary_key=True),
        *(
            sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
            for name in rollups.MEASURES
        ),
    )
    # The hub's drill-down: "this model's (provider's) requests, newest first".
    op.create_index("ix_hub_spend_model_at", "spend_ledger", ["model", "at"])
    op.create_index("ix_hub_spend_provider_at", "spend_ledger", ["provider", "at"])
    # The quality page: feedback in a time range.
    op.create_index("ix_hub_feedback_at", "feedback", ["at"])
    # Ledger rows written before this revision: summed once, here.
    bind = op.get_bind()
    ledger = sa.Table("spend_ledger", sa.MetaData(), autoload_with=bind)
    rollups.rebuild(bind, ledger)


def downgrade() -> None:
    op.drop_index("ix_hub_feedback_at", "feedback")
    op.drop_index("ix_hub_spend_provider_at", "spend_ledger")
    op.drop_index("ix_hub_spend_model_at", "spend_ledger")
    op.drop_table("hub_rollup")
