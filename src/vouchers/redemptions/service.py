"""Validate (a dry run), the ledger, and reversals."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.codes import code_key
from vouchers.errors import RedemptionNotFound, ServiceError, ValidationFailed, VoucherNotFound
from vouchers.pagination import BadCursor, decode_cursor, encode_cursor
from vouchers.redemptions import repository
from vouchers.redemptions.decision import decide, state_of
from vouchers.redemptions.schemas import (
    DailyRedemptions,
    DayTotal,
    RedemptionRead,
    RedemptionRequest,
    ValidationResult,
)
from vouchers.schemas import Page
from vouchers.vouchers import repository as voucher_repository


def to_read(row: Any) -> RedemptionRead:
    """The public shape of a ledger row."""
    return RedemptionRead(
        id=row.id,
        code=row.code,
        quantity=row.quantity,
        customer_id=row.customer_id,
        remaining=row.remaining,
        metadata=row.metadata,
        created_at=row.created_at,
        reversed_at=row.reversed_at,
    )


async def validate(
    connection: AsyncConnection, code: str, request: RedemptionRequest
) -> ValidationResult:
    """Would this redemption succeed now? Changes nothing."""
    row = await voucher_repository.get_by_key(connection, code_key(code))
    if row is None:
        return ValidationResult(
            valid=False, code=VoucherNotFound.code, remaining=0, expires_at=None
        )
    state = state_of(row)
    used = 0
    if request.customer_id is not None:
        counts = await repository.customer_counts(connection, [(row.id, request.customer_id)])
        used = counts.get((row.id, request.customer_id), 0)
    try:
        decide(state, used, request, clock.now())
    except ValidationFailed:
        raise  # a bad request, not an answer about the voucher
    except ServiceError as error:
        return ValidationResult(
            valid=False, code=error.code, remaining=state.remaining, expires_at=row.expires_at
        )
    return ValidationResult(
        valid=True, code=None, remaining=state.remaining, expires_at=row.expires_at
    )


async def get_redemption(connection: AsyncConnection, redemption_id: str) -> RedemptionRead:
    """One ledger row by id."""
    row = await repository.get_redemption(connection, redemption_id)
    if row is None:
        raise RedemptionNotFound(f"No redemption has the id {redemption_id}.")
    return to_read(row)


async def list_redemptions(
    connection: AsyncConnection, code: str, *, limit: int, cursor: str | None
) -> Page[RedemptionRead]:
    """A page of a voucher's ledger, newest first."""
    try:
        after_seq = decode_cursor(cursor) if cursor else None
    except BadCursor as error:
        raise ValidationFailed(
            [{"field": "cursor", "message": "not a cursor this service returned"}]
        ) from error
    voucher = await voucher_repository.get_by_key(connection, code_key(code))
    if voucher is None:
        raise VoucherNotFound(f"No voucher has the code {code}.")
    rows = await repository.list_ledger(
        connection, voucher.id, after_seq=after_seq, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].seq) if more and rows else None
    return Page[RedemptionRead](items=[to_read(row) for row in rows], next_cursor=next_cursor)


async def reverse(connection: AsyncConnection, redemption_id: str) -> RedemptionRead:
    """Undo a redemption once: its quantity goes back to the voucher and the customer.

    The voucher's row is locked first (the same order as redemptions take), and
    the ledger row is read again under that lock, so two concurrent reversals
    of one redemption restore its quantity once.
    """
    found = await repository.get_redemption(connection, redemption_id)
    if found is None:
        raise RedemptionNotFound(f"No redemption has the id {redemption_id}.")
    voucher = await voucher_repository.get_by_id(connection, found.voucher_id, for_update=True)
    row = await repository.get_redemption(connection, redemption_id)
    if voucher is None or row is None:
        raise RedemptionNotFound(f"No redemption has the id {redemption_id}.")
    if row.reversed_at is not None:
        return to_read(row)
    now = clock.now()
    await repository.mark_reversed(connection, row.seq, now)
    await repository.write_counters(connection, {voucher.id: voucher.redeemed - row.quantity}, now)
    if row.customer_id is not None:
        pair = (voucher.id, row.customer_id)
        used = (await repository.customer_counts(connection, [pair])).get(pair, 0)
        await repository.write_customer_counts(connection, {pair: max(used - row.quantity, 0)})
    reversed_row = await repository.get_redemption(connection, redemption_id)
    assert reversed_row is not None
    return to_read(reversed_row)


async def daily_redemptions(
    connection: AsyncConnection, *, days: int = 30, newest_rows: int = 100_000
) -> DailyRedemptions:
    """Net redeemed quantity per UTC day over the last ``days`` days, today included."""
    today = clock.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(0), tzinfo=UTC)
    found, truncated = await repository.daily_totals(connection, since, newest_rows=newest_rows)
    totals = [
        DayTotal(day=day, quantity=found.get(day.isoformat(), 0))
        for day in (first + timedelta(days=n) for n in range(days))
    ]
    return DailyRedemptions(days=totals, truncated=truncated)
