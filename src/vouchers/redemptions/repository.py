"""Every SQL statement about the ledger, customer usage and idempotency keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from vouchers.redemptions.tables import customer_usage, idempotency_keys, redemptions
from vouchers.vouchers.tables import vouchers

LEDGER_COLUMNS = (*redemptions.c, vouchers.c.code)


async def lock_vouchers(connection: AsyncConnection, keys: Sequence[str]) -> list[Row[Any]]:
    """Lock the vouchers with these code keys, in id order so that lockers never deadlock."""
    if not keys:
        return []
    distinct = sorted(set(keys))
    match: ColumnElement[bool]
    if len(distinct) == 1:
        match = vouchers.c.code_key == distinct[0]
    elif connection.dialect.name == "postgresql":
        # One array parameter: the statement text stays the same for any group size.
        match = vouchers.c.code_key == any_(bindparam("keys", distinct, type_=ARRAY(String())))
    else:
        match = vouchers.c.code_key.in_(distinct)
    query = select(vouchers).where(match).order_by(vouchers.c.id).with_for_update()
    return list((await connection.execute(query)).all())


async def customer_counts(
    connection: AsyncConnection, pairs: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """How much each (voucher id, customer id) pair has used."""
    if not pairs:
        return {}
    query = select(
        customer_usage.c.voucher_id, customer_usage.c.customer_id, customer_usage.c.redeemed
    ).where(tuple_(customer_usage.c.voucher_id, customer_usage.c.customer_id).in_(list(pairs)))
    return {(row[0], row[1]): row[2] for row in await connection.execute(query)}


async def write_counters(
    connection: AsyncConnection, counts: dict[int, int], now: datetime
) -> None:
    """Set each locked voucher's redeemed count (the caller holds the row locks)."""
    if not counts:
        return
    await connection.execute(
        update(vouchers)
        .where(vouchers.c.id == bindparam("vid"))
        .values(redeemed=bindparam("new_redeemed"), updated_at=now),
        [{"vid": vid, "new_redeemed": count} for vid, count in counts.items()],
    )


async def write_customer_counts(
    connection: AsyncConnection, counts: dict[tuple[int, str], int]
) -> None:
    """Upsert each customer's usage (the caller holds the vouchers' row locks)."""
    if not counts:
        return
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(customer_usage)
    statement = statement.on_conflict_do_update(
        index_elements=[customer_usage.c.voucher_id, customer_usage.c.customer_id],
        set_={"redeemed": statement.excluded.redeemed},
    )
    await connection.execute(
        statement,
        [
            {"voucher_id": vid, "customer_id": customer, "redeemed": count}
            for (vid, customer), count in counts.items()
        ],
    )


# PostgreSQL: a group's counters and ledger rows in one statement (one round trip
# while the row locks are held, instead of two).
POSTGRES_WRITE_GROUP = text(
    """
WITH counters AS (
    UPDATE vouchers AS v SET redeemed = c.redeemed, updated_at = :now
    FROM unnest(CAST(:voucher_ids AS bigint[]), CAST(:counts AS bigint[])) AS c(id, redeemed)
    WHERE v.id = c.id
)
INSERT INTO redemptions (id, voucher_id, quantity, customer_id, remaining, metadata, created_at)
SELECT * FROM unnest(
    CAST(:ids AS varchar[]), CAST(:ledger_voucher_ids AS bigint[]),
    CAST(:quantities AS bigint[]), CAST(:customers AS varchar[]),
    CAST(:remainings AS bigint[]), CAST(:metadata AS json[]), CAST(:created AS timestamptz[])
)
"""
)


async def write_group(
    connection: AsyncConnection,
    counts: dict[int, int],
    rows: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Write a decided group: each voucher's new count and the new ledger rows."""
    if connection.dialect.name != "postgresql" or not rows:
        await write_counters(connection, counts, now)
        await insert_redemptions(connection, rows)
        return
    await connection.execute(
        POSTGRES_WRITE_GROUP,
        {
            "now": now,
            "voucher_ids": list(counts),
            "counts": list(counts.values()),
            "ids": [row["id"] for row in rows],
            "ledger_voucher_ids": [row["voucher_id"] for row in rows],
            "quantities": [row["quantity"] for row in rows],
            "customers": [row["customer_id"] for row in rows],
            "remainings": [row["remaining"] for row in rows],
            "metadata": [json.dumps(row["metadata"], separators=(",", ":")) for row in rows],
            "created": [row["created_at"] for row in rows],
        },
    )


async def insert_redemptions(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Append rows to the ledger in one statement."""
    if rows:
        await connection.execute(insert(redemptions), rows)


async def get_redemption(connection: AsyncConnection, redemption_id: str) -> Row[Any] | None:
    """One ledger row with its voucher's code."""
    query = (
        select(*LEDGER_COLUMNS)
        .join_from(redemptions, vouchers, redemptions.c.voucher_id == vouchers.c.id)
        .where(redemptions.c.id == redemption_id)
    )
    return (await connection.execute(query)).one_or_none()


async def mark_reversed(connection: AsyncConnection, seq: int, now: datetime) -> None:
    """Set a ledger row's reversed_at."""
    await connection.execute(
        update(redemptions).where(redemptions.c.seq == seq).values(reversed_at=now)
    )


async def list_ledger(
    connection: AsyncConnection, voucher_id: int, *, after_seq: int | None, limit: int
) -> list[Row[Any]]:
    """A voucher's ledger rows, newest first, after a cursor."""
    query = (
        select(*LEDGER_COLUMNS)
        .join_from(redemptions, vouchers, redemptions.c.voucher_id == vouchers.c.id)
        .where(redemptions.c.voucher_id == voucher_id)
        .order_by(redemptions.c.seq.desc())
        .limit(limit)
    )
    if after_seq is not None:
        query = query.where(redemptions.c.seq < after_seq)
    return list((await connection.execute(query)).all())


async def stored_responses(connection: AsyncConnection, keys: Sequence[str]) -> dict[str, Row[Any]]:
    """Stored idempotent responses for these keys."""
    if not keys:
        return {}
    query = select(idempotency_keys).where(idempotency_keys.c.key.in_(sorted(set(keys))))
    return {row.key: row for row in await connection.execute(query)}


async def store_responses(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Store idempotent responses, in the transaction of their effects."""
    if rows:
        await connection.execute(insert(idempotency_keys), rows)


async def purge_responses(connection: AsyncConnection, older_than: datetime) -> int:
    """Forget idempotency keys stored before ``older_than``."""
    result = await connection.execute(
        delete(idempotency_keys).where(and_(idempotency_keys.c.created_at < older_than))
    )
    return int(result.rowcount or 0)


async def try_lock_keys(connection: AsyncConnection, keys: Sequence[str]) -> set[str]:
    """Take a transaction-scoped lock per idempotency key; return the keys we got.

    On PostgreSQL a key held by another transaction (another worker or server
    running the same request) is not waited for: the caller answers 409
    idempotency_in_progress. On SQLite, BEGIN IMMEDIATE already made this
    transaction the only writer, so every key is ours.
    """
    if connection.dialect.name != "postgresql":
        return set(keys)
    locked: set[str] = set()
    for key in sorted(set(keys)):
        digest = hashlib.sha256(key.encode()).digest()
        lock_id = int.from_bytes(digest[:8], "big", signed=True)
        statement = text("SELECT pg_try_advisory_xact_lock(:lock_id)")
        if (await connection.execute(statement, {"lock_id": lock_id})).scalar():
            locked.add(key)
    return locked


async def daily_totals(
    connection: AsyncConnection, since: datetime, *, newest_rows: int
) -> tuple[dict[str, int], bool]:
    """Net redeemed quantity per UTC day since ``since``, from the newest ``newest_rows`` rows.

    The ledger has no index on ``created_at``, so the scan is bounded by the
    primary key: only the newest ``newest_rows`` rows are read, in one pass.
    The second value says whether that bound cut into the period (older days
    of it may then be missing).
    """
    recent = (
        select(redemptions.c.created_at, redemptions.c.quantity, redemptions.c.reversed_at)
        .order_by(redemptions.c.seq.desc())
        .limit(newest_rows)
        .subquery()
    )
    day: ColumnElement[Any]
    if connection.dialect.name == "postgresql":
        day = func.to_char(func.timezone("UTC", recent.c.created_at), "YYYY-MM-DD")
    else:  # SQLite stores naive UTC text: 'YYYY-MM-DD HH:MM:SS...'
        day = func.substr(recent.c.created_at, 1, 10)
    labelled = day.label("day")
    net = func.sum(case((recent.c.reversed_at.is_(None), recent.c.quantity), else_=0))
    query = select(labelled, net, func.count()).group_by(labelled)
    rows = [(str(row[0]), int(row[1] or 0), int(row[2])) for row in await connection.execute(query)]
    first_day = since.date().isoformat()
    found = {name: total for name, total, _ in rows if name >= first_day}
    read = sum(count for _, _, count in rows)
    oldest = min((name for name, _, _ in rows), default=first_day)
    return found, read >= newest_rows and oldest >= first_day
