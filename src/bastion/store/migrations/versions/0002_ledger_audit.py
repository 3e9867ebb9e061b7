"""The whole spend ledger, request tags, feedback, and the audit trail.

The ledger gains tokens by kind, the served deployment and provider, latencies,
error class, retries and fallbacks, tags, and what budgets were charged; its
cost becomes nullable (NULL: no known price). Rows written before this
migration keep their values; their ``model`` was the served deployment, so it
is copied to ``deployment``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LEDGER_COLUMNS = (
    ("ingress", sa.String(16), None),
    ("deployment", sa.String(200), None),
    ("provider", sa.String(64), None),
    ("cached_tokens", sa.Integer, "0"),
    ("cache_write_tokens", sa.Integer, "0"),
    ("reasoning_tokens", sa.Integer, "0"),
    ("charged_nusd", sa.BigInteger, None),
    ("price_source", sa.String(16), None),
    ("latency_ms", sa.Float, None),
    ("upstream_ms", sa.Float, None),
    ("ttft_ms", sa.Float, None),
    ("error", sa.String(64), None),
    ("stream", sa.Boolean, "false"),
    ("cache_hit", sa.Boolean, "false"),
    ("attempts", sa.Integer, "0"),
    ("fallbacks", sa.Integer, "0"),
    ("tags", sa.Text, None),
)


def upgrade() -> None:
    with op.batch_alter_table("spend_ledger") as batch:
        batch.alter_column("cost_nusd", existing_type=sa.BigInteger, nullable=True)
        for name, type_, default in _LEDGER_COLUMNS:
            server_default = (
                None
                if default is None
                else (sa.false() if default == "false" else sa.text(default))
            )
            batch.add_column(
                sa.Column(name, type_, nullable=default is None, server_default=server_default)
            )
    op.execute("UPDATE spend_ledger SET deployment = model, charged_nusd = cost_nusd")
    op.create_index("ix_spend_at", "spend_ledger", ["at"])  # reports over a time range
    op.create_index("uq_spend_request_at", "spend_ledger", ["request_id", "at"], unique=True)

    op.create_table(
        "spend_tags",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("at", sa.Float, primary_key=True),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    op.create_index("ix_spend_tags_tag_at", "spend_tags", ["tag", "at"])
    op.create_table(
        "feedback",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("scale", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("instance", sa.String(80), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("day", "instance", "seq", name="uq_audit_chain"),
    )
    op.create_index("ix_audit_at", "audit_log", ["at"])
    op.create_table(
        "audit_digests",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("chains", sa.Text, nullable=False),
        sa.Column("prev_digest", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_digests", "audit_log", "feedback", "spend_tags"):
        op.drop_table(table)
    op.drop_index("uq_spend_request_at", "spend_ledger")
    op.drop_index("ix_spend_at", "spend_ledger")
    op.execute("UPDATE spend_ledger SET cost_nusd = 0 WHERE cost_nusd IS NULL")
    with op.batch_alter_table("spend_ledger") as batch:
        for name, _, _ in reversed(_LEDGER_COLUMNS):
            batch.drop_column(name)
        batch.alter_column("cost_nusd", existing_type=sa.BigInteger, nullable=False)
