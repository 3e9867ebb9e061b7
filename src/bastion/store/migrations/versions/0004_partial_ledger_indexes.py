"""Cheaper ledger writes: the indexes of often-empty ledger columns leave those rows out.

The team, user, org and app of a request are empty for keys that belong to none
(keys from the config file, for one), and a refused request has no provider: their
(column, at) indexes now hold only the rows where the column is set, so such rows
update fewer indexes. Every query on them asks for one value (``column = ...``),
which implies the column is set, so SQLite and PostgreSQL use them as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# index name -> the column it leads with (then ``at``)
_PARTIAL = {
    "ix_spend_team_at": "team_id",
    "ix_spend_user_at": "user_id",
    "ix_spend_org_at": "org_id",
    "ix_spend_app_at": "app_id",
    "ix_hub_spend_provider_at": "provider",
}


def upgrade() -> None:
    for name, column in _PARTIAL.items():
        where = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, "spend_ledger")
        op.create_index(
            name, "spend_ledger", [column, "at"], sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for name, column in _PARTIAL.items():
        op.drop_index(name, "spend_ledger")
        op.create_index(name, "spend_ledger", [column, "at"])
