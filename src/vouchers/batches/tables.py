"""The batches table: one row per bulk generation, with the voucher fields and code spec."""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Column, Index, Integer, String, Table

from vouchers.db import Id, UtcDateTime, metadata

batches = Table(
    "batches",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("count", Id, nullable=False),
    # Vouchers committed so far; written in the same transaction as each chunk.
    Column("created", Id, nullable=False, server_default="0"),
    Column("error", String(500), nullable=True),
    Column("code_length", Integer, nullable=False),
    Column("code_alphabet", String(64), nullable=False),
    Column("code_prefix", String(64), nullable=False),
    Column("code_suffix", String(64), nullable=False),
    Column("max_redemptions", Id, nullable=False),
    Column("per_customer_limit", Id, nullable=True),
    Column("starts_at", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("metadata", JSON(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name="known_status"),
    CheckConstraint("created >= 0 AND created <= count", name="created_within_count"),
    Index("ix_batches_status", "status"),
)
