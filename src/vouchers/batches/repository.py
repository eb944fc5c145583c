"""Every SQL statement about batches: their rows, the bulk insert of codes, the export."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import (
    JSON,
    Select,
    String,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from vouchers.batches.schemas import BatchStatus
from vouchers.batches.tables import batches
from vouchers.codes import code_key
from vouchers.db import UtcDateTime
from vouchers.vouchers.repository import status_condition
from vouchers.vouchers.schemas import VoucherStatus
from vouchers.vouchers.tables import vouchers

BatchRow = Row[Any]
UNFINISHED = (BatchStatus.pending.value, BatchStatus.running.value)

# The contract's order of precedence for a voucher's derived status.
STATUS_ORDER = (
    VoucherStatus.disabled,
    VoucherStatus.expired,
    VoucherStatus.scheduled,
    VoucherStatus.exhausted,
    VoucherStatus.active,
)
EXPORT_COLUMNS = ("code", "max_redemptions", "redeemed", "remaining", "expires_at", "status")

# First key of the two-key advisory locks that mark a batch as owned by a live server
# (ASCII "batc"); the second key is derived from the batch id.
BATCH_LOCK_CLASS = 0x62617463

VOUCHER_COLUMNS = (
    "code, code_key, max_redemptions, redeemed, per_customer_limit, starts_at, expires_at, "
    "disabled, batch_id, metadata, created_at, updated_at"
)

POSTGRES_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS batch_codes (code text NOT NULL) ON COMMIT DROP"
)
POSTGRES_INSERT = f"""
INSERT INTO vouchers ({VOUCHER_COLUMNS})
SELECT code, upper(code), $1::bigint, 0, $2::bigint, $3::timestamptz, $4::timestamptz,
       false, $5::varchar, $6::json, $7::timestamptz, $7::timestamptz
FROM batch_codes
ON CONFLICT (code_key) DO NOTHING
"""  # noqa: S608  (no user input: a fixed column list)

# Few codes (a retry round) go in one round trip instead of the four of the COPY path.
POSTGRES_INSERT_FEW = f"""
INSERT INTO vouchers ({VOUCHER_COLUMNS})
SELECT code, upper(code), $1::bigint, 0, $2::bigint, $3::timestamptz, $4::timestamptz,
       false, $5::varchar, $6::json, $7::timestamptz, $7::timestamptz
FROM unnest($8::text[]) AS code
ON CONFLICT (code_key) DO NOTHING
"""  # noqa: S608
COPY_THRESHOLD = 1_000

SQLITE_INSERT = text(
    f"""
INSERT INTO vouchers ({VOUCHER_COLUMNS})
SELECT value, upper(value), :max_redemptions, 0, :per_customer_limit, :starts_at, :expires_at,
       0, :batch_id, :metadata, :now, :now
FROM json_each(:codes) WHERE true
ON CONFLICT (code_key) DO NOTHING
"""  # noqa: S608
).bindparams(
    bindparam("starts_at", type_=UtcDateTime()),
    bindparam("expires_at", type_=UtcDateTime()),
    bindparam("now", type_=UtcDateTime()),
    bindparam("metadata", type_=JSON()),
)


async def insert_batch(connection: AsyncConnection, values: dict[str, Any]) -> BatchRow:
    """Insert one batch row and return it."""
    row: BatchRow = (
        await connection.execute(insert(batches).values(**values).returning(batches))
    ).one()
    return row


async def get_batch(
    connection: AsyncConnection, batch_id: str, *, for_update: bool = False
) -> BatchRow | None:
    """The batch with this id, optionally locked for the transaction."""
    query = select(batches).where(batches.c.id == batch_id)
    if for_update:
        query = query.with_for_update()
    return (await connection.execute(query)).one_or_none()


async def unfinished_batch_ids(connection: AsyncConnection) -> list[str]:
    """Ids of every batch still pending or running."""
    query = select(batches.c.id).where(batches.c.status.in_(UNFINISHED)).order_by(batches.c.id)
    return list((await connection.execute(query)).scalars())


async def start_batch(connection: AsyncConnection, batch_id: str, now: datetime) -> BatchRow | None:
    """Move a pending batch to running; None when it is not pending any more."""
    query = (
        update(batches)
        .where(batches.c.id == batch_id, batches.c.status == BatchStatus.pending.value)
        .values(status=BatchStatus.running.value, started_at=now)
        .returning(batches)
    )
    row: BatchRow | None = (await connection.execute(query)).one_or_none()
    return row


async def get_status(connection: AsyncConnection, batch_id: str) -> str | None:
    """The batch's status, without locking its row."""
    query = select(batches.c.status).where(batches.c.id == batch_id)
    status: str | None = (await connection.execute(query)).scalar_one_or_none()
    return status


async def add_created(connection: AsyncConnection, batch_id: str, made: int) -> bool:
    """Count vouchers made in this transaction into a running batch; False if it is not running.

    The row stays locked only from here to the commit, so parallel writers
    wait for each other just for that moment.
    """
    query = (
        update(batches)
        .where(batches.c.id == batch_id, batches.c.status == BatchStatus.running.value)
        .values(created=batches.c.created + made)
    )
    return (await connection.execute(query)).rowcount == 1


async def finish_batch(
    connection: AsyncConnection,
    batch_id: str,
    *,
    status: BatchStatus,
    error: str | None,
    now: datetime,
) -> bool:
    """End an unfinished batch as done or failed; False when it had already ended."""
    query = (
        update(batches)
        .where(batches.c.id == batch_id, batches.c.status.in_(UNFINISHED))
        .values(status=status.value, error=error, finished_at=now)
    )
    return (await connection.execute(query)).rowcount == 1


async def insert_codes(
    connection: AsyncConnection, codes: Sequence[str], fields: dict[str, Any]
) -> int:
    """Insert vouchers with these codes and shared fields; skip taken codes; return how many.

    ``fields`` holds max_redemptions, per_customer_limit, starts_at, expires_at,
    batch_id, metadata and now. PostgreSQL gets the codes by COPY into a
    temporary table and moves them with one INSERT ... SELECT ... ON CONFLICT
    DO NOTHING; SQLite reads them from one JSON array parameter in a single
    INSERT ... SELECT. Either way the unique code_key decides, so a code taken
    by anyone (another batch, a concurrent create) is skipped, never doubled.
    The caller must already have run a statement in this transaction.
    """
    if not codes:
        return 0
    if connection.dialect.name == "postgresql":
        return await _insert_codes_postgres(connection, codes, fields)
    # Sorted, as on PostgreSQL: the code_key index is then filled in key order.
    ordered = json.dumps(sorted(codes))
    result = await connection.execute(SQLITE_INSERT, {**fields, "codes": ordered})
    return int(result.rowcount)


async def _insert_codes_postgres(
    connection: AsyncConnection, codes: Sequence[str], fields: dict[str, Any]
) -> int:
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    arguments = (
        fields["max_redemptions"],
        fields["per_customer_limit"],
        fields["starts_at"],
        fields["expires_at"],
        fields["batch_id"],
        json.dumps(fields["metadata"], separators=(",", ":"), ensure_ascii=False),
        fields["now"],
    )
    if len(codes) < COPY_THRESHOLD:
        status: str = await raw.execute(POSTGRES_INSERT_FEW, *arguments, list(codes))
        return int(status.rsplit(" ", 1)[-1])
    if await _copy_codes_directly(raw, codes, arguments):
        return len(codes)
    await raw.execute(POSTGRES_STAGING)
    await raw.execute("TRUNCATE batch_codes")
    await raw.copy_records_to_table("batch_codes", records=[(code,) for code in codes])
    status = await raw.execute(POSTGRES_INSERT, *arguments)
    return int(status.rsplit(" ", 1)[-1])


async def _copy_codes_directly(raw: Any, codes: Sequence[str], arguments: tuple[Any, ...]) -> bool:
    """COPY the vouchers straight into their table; False (nothing written) if a code is taken.

    The codes of a chunk are distinct and the keyspace guard makes a clash with
    an existing code rare, so the chunk is tried as one COPY inside a savepoint
    (the fastest way in). The unique code_key refuses a taken code; then the
    savepoint is rolled back and the caller takes the staging path, which skips
    taken codes one by one.
    """
    try:
        async with raw.transaction():  # a savepoint in the chunk's transaction
            await raw.copy_to_table(
                "vouchers",
                # Sorted, the codes reach the unique code_key index in key order
                # (its pages are visited once each, not at random). A memoryview:
                # asyncpg would take bytes for a file name.
                source=memoryview(binary_copy_rows(sorted(codes), arguments)),
                columns=VOUCHER_COLUMNS.split(", "),
                format="binary",
            )
    except asyncpg.UniqueViolationError:
        return False
    return True


# PostgreSQL's binary COPY format: a signature, flags and header extension
# length, then per row a field count and each field as its length and bytes.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def binary_copy_rows(codes: Sequence[str], arguments: tuple[Any, ...]) -> bytes:
    """Voucher rows for ``COPY vouchers (VOUCHER_COLUMNS) FROM STDIN (FORMAT binary)``.

    Every column but the code and its key is the same on every row, so that
    part is encoded once; each row adds only its two strings. (asyncpg's own
    record encoder spent more CPU in this process, on 12 fields a row, than
    PostgreSQL spent storing the rows.)
    """
    max_redemptions, per_customer_limit, starts_at, expires_at, batch_id, metadata, now = arguments
    shared = b"".join(
        (
            _bigint(max_redemptions),
            _bigint(0),
            _bigint(per_customer_limit),
            _timestamp(starts_at),
            _timestamp(expires_at),
            _field(b"\x00"),  # disabled: false
            _field(batch_id.encode()),
            _field(metadata.encode()),  # json's binary form is its text
            _timestamp(now),
            _timestamp(now),
        )
    )
    column_count = struct.pack("!h", 12)
    rows = []
    for code in codes:
        encoded = code.encode()
        key = code_key(code).encode()
        rows.append(
            b"".join(
                (
                    column_count,
                    struct.pack("!i", len(encoded)),
                    encoded,
                    struct.pack("!i", len(key)),
                    key,
                    shared,
                )
            )
        )
    return b"".join((COPY_SIGNATURE, *rows, COPY_TRAILER))


def _field(data: bytes | None) -> bytes:
    return struct.pack("!i", -1) if data is None else struct.pack("!i", len(data)) + data


def _bigint(value: int | None) -> bytes:
    return _field(None if value is None else struct.pack("!q", value))


def _timestamp(value: datetime | None) -> bytes:
    if value is None:
        return _field(None)
    microseconds = (value - POSTGRES_EPOCH) // timedelta(microseconds=1)
    return _field(struct.pack("!q", microseconds))


def _lock_keys(batch_id: str) -> dict[str, int]:
    digest = hashlib.sha256(batch_id.encode()).digest()
    return {"kind": BATCH_LOCK_CLASS, "key": int.from_bytes(digest[:4], "big", signed=True)}


async def try_lock_batch(connection: AsyncConnection, batch_id: str) -> bool:
    """PostgreSQL: take the session lock that says 'a live server owns this batch'."""
    statement = text("SELECT pg_try_advisory_lock(:kind, :key)")
    return bool((await connection.execute(statement, _lock_keys(batch_id))).scalar())


async def unlock_batch(connection: AsyncConnection, batch_id: str) -> None:
    """PostgreSQL: release the ownership lock of a batch."""
    await connection.execute(text("SELECT pg_advisory_unlock(:kind, :key)"), _lock_keys(batch_id))


def status_case(now: datetime) -> ColumnElement[str]:
    """SQL for a voucher's derived status as text, using the shared status conditions."""
    return case(
        *((status_condition(status, now), literal(status.value)) for status in STATUS_ORDER),
        else_=literal(VoucherStatus.active.value),
    )


def _export_select(
    batch_id: str, status: VoucherStatus | None, now: datetime, expires_at: ColumnElement[Any]
) -> Select[Any]:
    c = vouchers.c
    query = (
        select(
            c.code,
            c.max_redemptions,
            c.redeemed,
            (c.max_redemptions - c.redeemed).label("remaining"),
            expires_at.label("expires_at"),
            status_case(now).label("status"),
        )
        .where(c.batch_id == batch_id)
        .order_by(c.id)
    )
    if status is not None:
        query = query.where(status_condition(status, now))
    return query


async def export_page_sqlite(
    connection: AsyncConnection,
    batch_id: str,
    status: VoucherStatus | None,
    now: datetime,
    *,
    after_id: int,
    limit: int,
) -> list[Row[Any]]:
    """SQLite: one page of a batch's export rows (plus each row's id), in creation order."""
    # expires_at comes back as the stored text: parsing a million equal timestamps
    # row by row would cost more than the rest of the export together.
    query = (
        _export_select(batch_id, status, now, type_coerce(vouchers.c.expires_at, String()))
        .add_columns(vouchers.c.id)
        .where(vouchers.c.id > after_id)
        .limit(limit)
    )
    return list((await connection.execute(query)).all())


def _rfc3339_postgres(column: ColumnElement[Any]) -> ColumnElement[str]:
    """PostgreSQL text of a timestamp as the API writes it: UTC, 'Z', microseconds if any."""
    utc = func.timezone("UTC", column)
    text_value = func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US')
    return func.replace(text_value, ".000000", "", type_=String()) + "Z"


async def copy_export_postgres(
    connection: AsyncConnection,
    batch_id: str,
    status: VoucherStatus | None,
    now: datetime,
    output: Callable[[bytes], Awaitable[None]],
) -> None:
    """PostgreSQL: COPY a batch's export rows as CSV (no header) into ``output``, in chunks."""
    query = _export_select(batch_id, status, now, _rfc3339_postgres(vouchers.c.expires_at))
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.copy_from_query(sql, output=output, format="csv")
