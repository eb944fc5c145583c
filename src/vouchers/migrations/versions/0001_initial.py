"""Vouchers, the redemption ledger, customer usage and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vouchers.db import Id, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the core tables."""
    op.create_table(
        "vouchers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("code_key", sa.String(64), nullable=False),
        sa.Column("max_redemptions", Id, nullable=False),
        sa.Column("redeemed", Id, nullable=False, server_default="0"),
        sa.Column("per_customer_limit", Id, nullable=True),
        sa.Column("starts_at", UtcDateTime(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("batch_id", sa.String(40), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "redeemed >= 0 AND redeemed <= max_redemptions",
            name="ck_vouchers_redeemed_within_limit",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_vouchers"),
        sa.UniqueConstraint("code_key", name="uq_vouchers_code_key"),
    )
    op.create_index("ix_vouchers_batch_id_id", "vouchers", ["batch_id", "id"])
    op.create_table(
        "redemptions",
        sa.Column("seq", Id, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("voucher_id", Id, nullable=False),
        sa.Column("quantity", Id, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("remaining", Id, nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("reversed_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint("quantity > 0", name="ck_redemptions_positive_quantity"),
        sa.ForeignKeyConstraint(
            ["voucher_id"], ["vouchers.id"], name="fk_redemptions_voucher_id_vouchers"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_redemptions"),
        sa.UniqueConstraint("id", name="uq_redemptions_id"),
    )
    op.create_index("ix_redemptions_voucher_id_seq", "redemptions", ["voucher_id", "seq"])
    op.create_table(
        "customer_usage",
        sa.Column("voucher_id", Id, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("redeemed", Id, nullable=False),
        sa.CheckConstraint("redeemed >= 0", name="ck_customer_usage_non_negative"),
        sa.ForeignKeyConstraint(
            ["voucher_id"], ["vouchers.id"], name="fk_customer_usage_voucher_id_vouchers"
        ),
        sa.PrimaryKeyConstraint("voucher_id", "customer_id", name="pk_customer_usage"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    """Drop the core tables."""
    op.drop_table("idempotency_keys")
    op.drop_table("customer_usage")
    op.drop_table("redemptions")
    op.drop_table("vouchers")
