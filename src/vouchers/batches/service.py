"""The rules of batches: checking and recording a request, generating its codes, exporting them."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.batches import repository
from vouchers.batches.generator import CodeGenerator, CodeSpec
from vouchers.batches.repository import EXPORT_COLUMNS, BatchRow
from vouchers.batches.schemas import BatchCreate, BatchRead, BatchStatus, CodeSpecRead
from vouchers.config import Settings
from vouchers.db import Database
from vouchers.errors import BatchNotFound, KeyspaceTooSmall, ValidationFailed
from vouchers.timestamps import format_timestamp, resolve_expiry, resolve_start
from vouchers.vouchers.schemas import VoucherStatus
from vouchers.vouchers.service import check_window

logger = logging.getLogger(__name__)

BATCH_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
POSTGRES_CHUNK = 50_000
POSTGRES_WRITERS = 2
# Each SQLite chunk holds the database's only write lock while it is written;
# smaller chunks keep redemptions waiting for at most a fraction of a second.
SQLITE_CHUNK = 20_000
# Rounds in a row that insert nothing before the keyspace counts as used up.
MAX_EMPTY_ROUNDS = 1_000
# The first chunk is small so that progress shows at once.
FIRST_CHUNK = 5_000
EXPORT_PAGE = 10_000
CSV_HEADER = (",".join(EXPORT_COLUMNS) + "\n").encode()


class KeyspaceExhausted(Exception):
    """Every code the spec can make is taken; the batch cannot be completed."""


def new_batch_id() -> str:
    """A fresh opaque batch id."""
    return "bat_" + "".join(secrets.choice(BATCH_ID_ALPHABET) for _ in range(20))


def batch_count(row: BatchRow) -> int:
    """A batch row's ``count`` column (``row.count`` is the tuple method)."""
    count: int = row._mapping["count"]
    return count


def spec_of(row: BatchRow) -> CodeSpec:
    """The code spec stored with a batch."""
    return CodeSpec(
        alphabet=row.code_alphabet,
        length=row.code_length,
        prefix=row.code_prefix,
        suffix=row.code_suffix,
    )


def to_read(row: BatchRow) -> BatchRead:
    """The public shape of a batch row."""
    return BatchRead(
        id=row.id,
        status=BatchStatus(row.status),
        count=batch_count(row),
        created=row.created,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        max_redemptions=row.max_redemptions,
        per_customer_limit=row.per_customer_limit,
        starts_at=row.starts_at,
        expires_at=row.expires_at,
        metadata=row.metadata,
        code=CodeSpecRead(
            length=row.code_length,
            alphabet=row.code_alphabet,
            prefix=row.code_prefix,
            suffix=row.code_suffix,
        ),
    )


def check_keyspace(count: int, spec: CodeSpec, max_guess_probability: float) -> None:
    """Refuse a batch whose codes a random guess would hit too often (count / keyspace)."""
    keyspace = spec.keyspace
    probability = count / keyspace
    if probability > max_guess_probability:
        symbols = len(spec.alphabet)
        raise KeyspaceTooSmall(
            f"{count} codes of {spec.length} symbols from a {symbols}-symbol alphabet "
            f"({symbols}^{spec.length} = {keyspace} possible codes): a random guess would hit "
            f"one with probability {probability:.3g}, above the limit of "
            f"{max_guess_probability:.3g}. Use longer codes, a larger alphabet, or fewer codes.",
            keyspace=keyspace,
            guess_probability=probability,
            max_guess_probability=max_guess_probability,
        )


async def create_batch(
    connection: AsyncConnection, batch_id: str, body: BatchCreate, settings: Settings
) -> BatchRead:
    """Check a batch request and record it as pending; the runner makes its codes."""
    now = clock.now()
    expires_at = resolve_expiry(body.expires_at, settings.zone)
    starts_at = resolve_start(body.starts_at, settings.zone) if body.starts_at is not None else None
    if expires_at <= now:
        raise ValidationFailed(
            [{"field": "expires_at", "message": f"{format_timestamp(expires_at)} is already past"}]
        )
    check_window(starts_at, expires_at)
    spec = CodeSpec(
        alphabet=body.code.alphabet,
        length=body.code.length,
        prefix=body.code.prefix,
        suffix=body.code.suffix,
    )
    check_keyspace(body.count, spec, settings.max_guess_probability)
    row = await repository.insert_batch(
        connection,
        {
            "id": batch_id,
            "status": BatchStatus.pending.value,
            "count": body.count,
            "created": 0,
            "error": None,
            "code_length": spec.length,
            "code_alphabet": spec.alphabet,
            "code_prefix": spec.prefix,
            "code_suffix": spec.suffix,
            "max_redemptions": body.max_redemptions,
            "per_customer_limit": body.per_customer_limit,
            "starts_at": starts_at,
            "expires_at": expires_at,
            "metadata": body.metadata,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
        },
    )
    return to_read(row)


async def get_batch(database: Database, batch_id: str) -> BatchRead:
    """One batch by id."""
    async with database.read() as connection:
        row = await repository.get_batch(connection, batch_id)
    if row is None:
        raise BatchNotFound(f"No batch has the id {batch_id}.")
    return to_read(row)


async def unfinished_batch_ids(database: Database) -> list[str]:
    """Ids of the batches still pending or running."""
    async with database.read() as connection:
        return await repository.unfinished_batch_ids(connection)


async def fail_batch(database: Database, batch_id: str, reason: str) -> bool:
    """Mark an unfinished batch failed, saying why and how far it got; False if it had ended."""
    async with database.transaction() as connection:
        row = await repository.get_batch(connection, batch_id, for_update=True)
        if row is None or row.status not in repository.UNFINISHED:
            return False
        error = f"{reason}; {row.created} of {batch_count(row)} codes were created"
        await repository.finish_batch(
            connection, batch_id, status=BatchStatus.failed, error=error[:500], now=clock.now()
        )
    logger.warning("batch %s failed: %s", batch_id, error)
    return True


class BatchStopped(Exception):
    """The batch was ended by someone else (failed) while a chunk was being written."""


class Quota:
    """The codes still to hand out to the writers of one batch (one event loop, no locks)."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.first = True

    def take(self, chunk: int) -> int:
        """The size of the next chunk to write (the first one small); 0 when all are handed out."""
        size = min(FIRST_CHUNK if self.first else chunk, self.remaining)
        self.first = False
        self.remaining -= size
        return size


async def run_batch(database: Database, batch_id: str) -> None:
    """Generate a pending batch's codes, one committed chunk at a time, then mark it done.

    Each chunk is one transaction that also adds its vouchers to ``created``,
    so progress is visible and exact, and a crash loses at most the chunks in
    flight. Within a chunk, codes are drawn, de-duplicated in memory and
    inserted with ON CONFLICT DO NOTHING; the shortfall (codes someone already
    had) is drawn again until the chunk is full, so collisions are retried,
    never dropped. On PostgreSQL two writers fill chunks side by side (the
    index maintenance of each runs in its own backend, on its own core); on
    SQLite, which has one writer at a time, one does.
    """
    async with database.transaction() as connection:
        row = await repository.start_batch(connection, batch_id, clock.now())
    if row is None:
        return
    generator = CodeGenerator(spec_of(row))
    fields = {
        "max_redemptions": row.max_redemptions,
        "per_customer_limit": row.per_customer_limit,
        "starts_at": row.starts_at,
        "expires_at": row.expires_at,
        "batch_id": batch_id,
        "metadata": row.metadata,
    }
    quota = Quota(batch_count(row) - row.created)
    writers = 1 if database.is_sqlite else POSTGRES_WRITERS
    exhausted = stopped = False
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(writers):
                group.create_task(_write_chunks(database, batch_id, generator, fields, quota))
    except* KeyspaceExhausted:
        exhausted = True
    except* BatchStopped:
        stopped = True
    if exhausted:
        await fail_batch(
            database, batch_id, "every code this spec can make is taken (keyspace used up)"
        )
    if exhausted or stopped:
        return
    async with database.transaction() as connection:
        await repository.finish_batch(
            connection, batch_id, status=BatchStatus.done, error=None, now=clock.now()
        )


async def _write_chunks(
    database: Database,
    batch_id: str,
    generator: CodeGenerator,
    fields: dict[str, Any],
    quota: Quota,
) -> None:
    """One writer: take chunks from the quota and commit each with its progress."""
    chunk = SQLITE_CHUNK if database.is_sqlite else POSTGRES_CHUNK
    while (wanted := quota.take(chunk)) > 0:
        candidates = generator.draw_unique(wanted)
        async with database.transaction() as connection:
            if await repository.get_status(connection, batch_id) != BatchStatus.running.value:
                raise BatchStopped(batch_id)
            made = await _fill_chunk(connection, generator, candidates, wanted, fields)
            if not await repository.add_created(connection, batch_id, made):
                raise BatchStopped(batch_id)
        if made < wanted:
            raise KeyspaceExhausted(batch_id)
        await asyncio.sleep(0)


async def _fill_chunk(
    connection: AsyncConnection,
    generator: CodeGenerator,
    candidates: list[str],
    wanted: int,
    fields: dict[str, Any],
) -> int:
    """Insert ``wanted`` new codes, redrawing the taken ones; fewer if the keyspace runs out."""
    made = 0
    empty_rounds = 0
    while True:
        inserted = await repository.insert_codes(
            connection, candidates, {**fields, "now": clock.now()}
        )
        made += inserted
        if made >= wanted:
            return made
        empty_rounds = 0 if inserted else empty_rounds + 1
        if empty_rounds >= MAX_EMPTY_ROUNDS:
            return made
        candidates = generator.draw_unique(wanted - made)


async def export_csv(
    database: Database, batch_id: str, status: VoucherStatus | None, now: datetime
) -> AsyncIterator[bytes]:
    """The batch's vouchers as CSV, header first, in creation order, streamed in chunks."""
    yield CSV_HEADER
    if database.is_sqlite:
        async for chunk in _export_sqlite(database, batch_id, status, now):
            yield chunk
    else:
        async for chunk in _export_postgres(database, batch_id, status, now):
            yield chunk


async def _export_sqlite(
    database: Database, batch_id: str, status: VoucherStatus | None, now: datetime
) -> AsyncIterator[bytes]:
    """Pages of rows from one read transaction (one consistent snapshot)."""
    formatted: dict[str, str] = {}
    async with database.read() as connection:
        after_id = 0
        while True:
            rows = await repository.export_page_sqlite(
                connection, batch_id, status, now, after_id=after_id, limit=EXPORT_PAGE
            )
            if not rows:
                return
            lines = []
            for row in rows:
                expires_at = formatted.get(row.expires_at)
                if expires_at is None:
                    stored = datetime.fromisoformat(row.expires_at).replace(tzinfo=UTC)
                    expires_at = formatted[row.expires_at] = format_timestamp(stored)
                lines.append(
                    f"{row.code},{row.max_redemptions},{row.redeemed},{row.remaining},"
                    f"{expires_at},{row.status}\n"
                )
            yield "".join(lines).encode()
            after_id = rows[-1].id


async def _export_postgres(
    database: Database, batch_id: str, status: VoucherStatus | None, now: datetime
) -> AsyncIterator[bytes]:
    """One COPY ... TO STDOUT (one snapshot), its chunks handed over through a small queue."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)

    async def hand_over(chunk: bytes) -> None:
        await queue.put(bytes(chunk))

    async def produce() -> None:
        try:
            async with database.read() as connection:
                await repository.copy_export_postgres(connection, batch_id, status, now, hand_over)
        finally:
            await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        await producer
    finally:
        if not producer.done():
            producer.cancel()
            try:
                await producer
            except (asyncio.CancelledError, Exception):
                logger.info("export of batch %s stopped early", batch_id)
