"""The SQL schema of the governance store (SQLAlchemy Core).

Times are Unix seconds (floats): the same on SQLite and PostgreSQL, no time
zone surprises. Policies and metadata are JSON documents validated by the
governance layer before they are written. Money is integer nano-dollars.
Migrations (``store/migrations``) create exactly these tables.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()


def _entity(name: str, *columns: sa.Column[object] | sa.Constraint) -> sa.Table:
    """An identity table: id, name, org, policy, metadata, creation time."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        *columns,
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


orgs = _entity("orgs", sa.UniqueConstraint("name", name="uq_orgs_name"))

teams = _entity(
    "teams",
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), nullable=True),
)

users = _entity(
    "users",
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), nullable=True),
    sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id"), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
)

apps = _entity(
    "apps",
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), nullable=True),
)

keys = _entity(
    "keys",
    # The key itself is never stored: its SHA-256 and a short prefix to recognise it by.
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    # After a rotation, the replaced key stays valid until previous_expires_at.
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

# One row, bumped by every change: processes poll it to know when to reload.
state = sa.Table(
    "governance_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
)

spend_ledger = sa.Table(
    "spend_ledger",
    metadata,
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
    sa.Column("estimated", sa.Boolean, nullable=False),  # no usage came back: the reservation
    sa.Index("ix_spend_key_at", "key_id", "at"),
    sa.Index("ix_spend_team_at", "team_id", "at"),
    sa.Index("ix_spend_user_at", "user_id", "at"),
    sa.Index("ix_spend_org_at", "org_id", "at"),
    sa.Index("ix_spend_app_at", "app_id", "at"),
)

ENTITY_TABLES: dict[str, sa.Table] = {
    "org": orgs,
    "team": teams,
    "user": users,
    "app": apps,
    "key": keys,
}
