"""Monitoring hub: guardrail verdicts summed per minute/hour/day, by detector and action.

The Quality page read them from the metrics' counters (since the process started)
or the live feed (the last requests): gone after a restart, and blind to the page's
time range. The recorder now adds each request's verdicts to ``hub_verdicts`` in the
ledger's transaction (see ``store/rollups.py``). Verdicts recorded before this
revision are not in the ledger, so the table starts empty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_verdicts",
        sa.Column("grain", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("detector", sa.String(64), primary_key=True),
        sa.Column("action", sa.String(32), primary_key=True),
        sa.Column("org_id", sa.String(40), primary_key=True),
        sa.Column("team_id", sa.String(40), primary_key=True),
        sa.Column("verdicts", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("hub_verdicts")
