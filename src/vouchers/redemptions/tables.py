"""The ledger, per-customer usage, and stored idempotent responses."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from vouchers.db import Id, UtcDateTime, metadata

redemptions = Table(
    "redemptions",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("voucher_id", Id, ForeignKey("vouchers.id"), nullable=False),
    Column("quantity", Id, nullable=False),
    Column("customer_id", String(128), nullable=True),
    Column("remaining", Id, nullable=False),
    Column("metadata", JSON(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("reversed_at", UtcDateTime(), nullable=True),
    CheckConstraint("quantity > 0", name="positive_quantity"),
    Index("ix_redemptions_voucher_id_seq", "voucher_id", "seq"),
)

# How much of a voucher each customer has used (net of reversals). Guarded by
# the voucher's row lock: every writer of a row here holds its voucher's lock.
customer_usage = Table(
    "customer_usage",
    metadata,
    Column("voucher_id", Id, ForeignKey("vouchers.id"), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("redeemed", Id, nullable=False),
    CheckConstraint("redeemed >= 0", name="non_negative"),
)

# A stored response per Idempotency-Key, written in the same transaction as
# the effect it describes.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False, index=True),
)
