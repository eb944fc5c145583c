"""The vouchers table."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, Index, String, Table

from vouchers.db import Id, UtcDateTime, metadata

vouchers = Table(
    "vouchers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # The code as the administrator wrote it, and its upper-cased key for look-ups.
    Column("code", String(64), nullable=False),
    Column("code_key", String(64), nullable=False, unique=True),
    Column("max_redemptions", Id, nullable=False),
    Column("redeemed", Id, nullable=False, server_default="0"),
    Column("per_customer_limit", Id, nullable=True),
    Column("starts_at", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("disabled", Boolean(), nullable=False, server_default="0"),
    Column("batch_id", String(40), nullable=True),
    Column("metadata", JSON(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # The invariant, enforced by the database as a last line of defence.
    CheckConstraint("redeemed >= 0 AND redeemed <= max_redemptions", name="redeemed_within_limit"),
    Index("ix_vouchers_batch_id_id", "batch_id", "id"),
)
