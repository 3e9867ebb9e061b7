"""Governance: organisations, teams, users, applications, virtual keys, spend ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _entity(name: str, *extra: sa.Column[object] | sa.Constraint) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        *extra,
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def upgrade() -> None:
    _entity("orgs", sa.UniqueConstraint("name", name="uq_orgs_name"))
    _entity("teams", sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), nullable=True))
    _entity(
        "users",
        sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), nullable=True),
        sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id"), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
    )
    _entity("apps", sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), nullable=True))
    _entity(
        "keys",
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("previous_digest", sa.String(64), nullable=True, unique=True),
        sa.Column("previous_expires_at", sa.Float, nullable=True),
        sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), nullable=True),
        sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id"), nullable=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("app_id", sa.String(40), sa.ForeignKey("apps.id"), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("revoked_at", sa.Float, nullable=True),
        sa.Column("rotated_at", sa.Float, nullable=True),
    )
    state = op.create_table(
        "governance_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "revision": 1}])
    op.create_table(
        "spend_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("org_id", sa.String(40), nullable=True),
        sa.Column("team_id", sa.String(40), nullable=True),
        sa.Column("user_id", sa.String(40), nullable=True),
        sa.Column("app_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost_nusd", sa.BigInteger, nullable=False),
        sa.Column("estimated", sa.Boolean, nullable=False),
    )
    for scope in ("key", "team", "user", "org", "app"):
        op.create_index(f"ix_spend_{scope}_at", "spend_ledger", [f"{scope}_id", "at"])


def downgrade() -> None:
    for table in ("spend_ledger", "governance_state", "keys", "apps", "users", "teams", "orgs"):
        op.drop_table(table)
