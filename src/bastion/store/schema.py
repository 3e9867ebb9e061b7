"""The SQL schema (SQLAlchemy Core): governance, the spend ledger, feedback, the audit trail.

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

# Ledger columns often NULL (keys without a team, refused requests without a provider):
# their indexes leave those rows out, so writing such a row updates fewer indexes. A
# query ``column = value`` implies ``column IS NOT NULL``, so SQLite and PostgreSQL
# still use them.
PARTIAL_SCOPES = ("team", "user", "org", "app")


def partial_index(name: str, column: str) -> sa.Index:
    """An index on (column, at) of the ledger rows whose ``column`` is set."""
    where = sa.text(f"{column} IS NOT NULL")
    return sa.Index(name, column, "at", sqlite_where=where, postgresql_where=where)


# One row per authenticated request (accounting/ledger.py); written in batches.
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
    sa.Column("model", sa.String(200), nullable=False),  # as requested
    sa.Column("endpoint", sa.String(32), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cost_nusd", sa.BigInteger, nullable=True),  # NULL: no known price
    sa.Column("estimated", sa.Boolean, nullable=False),  # no usage came back: estimated tokens
    # 0002: the rest of the request's story.
    sa.Column("ingress", sa.String(16), nullable=True),
    sa.Column("deployment", sa.String(200), nullable=True),  # served: provider/model
    sa.Column("provider", sa.String(64), nullable=True),  # its kind: openai, anthropic, ...
    sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cache_write_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reasoning_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("charged_nusd", sa.BigInteger, nullable=True),  # against budgets (virtual keys)
    sa.Column("price_source", sa.String(16), nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=True),
    sa.Column("upstream_ms", sa.Float, nullable=True),
    sa.Column("ttft_ms", sa.Float, nullable=True),
    sa.Column("error", sa.String(64), nullable=True),
    sa.Column("stream", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cache_hit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("fallbacks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tags", sa.Text, nullable=True),  # JSON array of strings
    # Spend per scope (governance), drill-down (the hub), reports over a range.
    sa.Index("ix_spend_key_at", "key_id", "at"),
    *(partial_index(f"ix_spend_{scope}_at", f"{scope}_id") for scope in PARTIAL_SCOPES),
    sa.Index("ix_spend_at", "at"),
    # The natural key: a batch written twice (a lost commit reply) lands once.
    sa.Index("uq_spend_request_at", "request_id", "at", unique=True),
    # The hub's drill-down: "this model's (provider's) requests, newest first".
    sa.Index("ix_hub_spend_model_at", "model", "at"),
    partial_index("ix_hub_spend_provider_at", "provider"),
)

# What a ledger row holds, in this order (the writer builds rows as tuples of these).
LEDGER_COLUMNS: tuple[str, ...] = tuple(c.name for c in spend_ledger.columns if c.name != "id")

# A request's tags, one row each, for reports grouped by tag.
spend_tags = sa.Table(
    "spend_tags",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("at", sa.Float, primary_key=True),
    sa.Column("tag", sa.String(200), primary_key=True),
    sa.Index("ix_spend_tags_tag_at", "tag", "at"),
)

# Caller feedback on a request (POST /v1/feedback): the latest per request counts.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("key_id", sa.String(40), nullable=True),  # who gave it
    sa.Column("score", sa.Integer, nullable=False),  # 1..5; thumbs: down 1, up 5
    sa.Column("scale", sa.String(8), nullable=False),  # "thumbs" | "stars"
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("tags", sa.Text, nullable=True),  # JSON array of strings
    sa.Index("ix_hub_feedback_at", "at"),  # the hub's quality page: feedback in a range
)

# The audit trail: hash chains per (instance, day); see observability/audit_chain.py.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("instance", sa.String(80), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),  # UTC, YYYY-MM-DD: the chain's day
    sa.Column("seq", sa.Integer, nullable=False),  # position in the chain, from 0
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # "request" | "retention"
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("record", sa.Text, nullable=False),  # canonical JSON: what the hash covers
    sa.Column("body", sa.Text, nullable=True),  # covered by the record's body_sha256
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("day", "instance", "seq", name="uq_audit_chain"),
    sa.Index("ix_audit_at", "at"),
)

# One row per sealed day: every chain's length and last hash, chained day to day.
audit_digests = sa.Table(
    "audit_digests",
    metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("chains", sa.Text, nullable=False),  # canonical JSON [[instance, count, head]]
    sa.Column("prev_digest", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

ENTITY_TABLES: dict[str, sa.Table] = {
    "org": orgs,
    "team": teams,
    "user": users,
    "app": apps,
    "key": keys,
}
