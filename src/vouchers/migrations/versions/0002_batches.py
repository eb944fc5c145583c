"""Batches: bulk generation of voucher codes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vouchers.db import Id, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the batches table."""
    op.create_table(
        "batches",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("count", Id, nullable=False),
        sa.Column("created", Id, nullable=False, server_default="0"),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("code_length", sa.Integer(), nullable=False),
        sa.Column("code_alphabet", sa.String(64), nullable=False),
        sa.Column("code_prefix", sa.String(64), nullable=False),
        sa.Column("code_suffix", sa.String(64), nullable=False),
        sa.Column("max_redemptions", Id, nullable=False),
        sa.Column("per_customer_limit", Id, nullable=True),
        sa.Column("starts_at", UtcDateTime(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed')",
            name="ck_batches_known_status",
        ),
        sa.CheckConstraint(
            "created >= 0 AND created <= count", name="ck_batches_created_within_count"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
    )
    op.create_index("ix_batches_status", "batches", ["status"])


def downgrade() -> None:
    """Drop the batches table."""
    op.drop_index("ix_batches_status", table_name="batches")
    op.drop_table("batches")
