"""The rules for creating, reading, listing, changing and deleting vouchers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.codes import code_key, generate_code
from vouchers.errors import (
    CodeTaken,
    LimitBelowRedeemed,
    ValidationFailed,
    VoucherHasRedemptions,
    VoucherNotFound,
)
from vouchers.pagination import BadCursor, decode_cursor, encode_cursor
from vouchers.schemas import Page
from vouchers.timestamps import format_timestamp, resolve_expiry, resolve_start
from vouchers.vouchers import repository
from vouchers.vouchers.repository import VoucherRow
from vouchers.vouchers.schemas import VoucherCreate, VoucherRead, VoucherStatus, VoucherUpdate

GENERATED_CODE_ATTEMPTS = 8


def derive_status(row: VoucherRow, now: datetime) -> VoucherStatus:
    """The voucher's status, in the contract's order: disabled, expired, scheduled, exhausted."""
    if row.disabled:
        return VoucherStatus.disabled
    if now >= row.expires_at:
        return VoucherStatus.expired
    if row.starts_at is not None and now < row.starts_at:
        return VoucherStatus.scheduled
    if row.redeemed >= row.max_redemptions:
        return VoucherStatus.exhausted
    return VoucherStatus.active


def to_read(row: VoucherRow, now: datetime) -> VoucherRead:
    """The public shape of a voucher row."""
    return VoucherRead(
        code=row.code,
        max_redemptions=row.max_redemptions,
        redeemed=row.redeemed,
        remaining=row.max_redemptions - row.redeemed,
        per_customer_limit=row.per_customer_limit,
        starts_at=row.starts_at,
        expires_at=row.expires_at,
        disabled=row.disabled,
        status=derive_status(row, now),
        batch_id=row.batch_id,
        metadata=row.metadata,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message}])


def check_window(starts_at: datetime | None, expires_at: datetime) -> None:
    """A voucher must expire after it starts."""
    if starts_at is not None and expires_at <= starts_at:
        raise _field_error("expires_at", "must be after starts_at")


async def create_voucher(
    connection: AsyncConnection, body: VoucherCreate, zone: ZoneInfo
) -> VoucherRead:
    """Create one voucher; generate its code when none is given."""
    now = clock.now()
    expires_at = resolve_expiry(body.expires_at, zone)
    starts_at = resolve_start(body.starts_at, zone) if body.starts_at is not None else None
    if expires_at <= now:
        raise _field_error("expires_at", f"{format_timestamp(expires_at)} is already past")
    check_window(starts_at, expires_at)
    values: dict[str, Any] = {
        "max_redemptions": body.max_redemptions,
        "redeemed": 0,
        "per_customer_limit": body.per_customer_limit,
        "starts_at": starts_at,
        "expires_at": expires_at,
        "disabled": False,
        "batch_id": None,
        "metadata": body.metadata,
        "created_at": now,
        "updated_at": now,
    }
    if body.code is not None:
        return to_read(await _insert(connection, body.code, values), now)
    for _ in range(GENERATED_CODE_ATTEMPTS):
        try:
            return to_read(await _insert(connection, generate_code(), values), now)
        except CodeTaken:
            continue
    raise CodeTaken("Could not generate a free code; try again.")


async def _insert(connection: AsyncConnection, code: str, values: dict[str, Any]) -> VoucherRow:
    try:
        async with connection.begin_nested():
            return await repository.insert_voucher(
                connection, {"code": code, "code_key": code_key(code), **values}
            )
    except IntegrityError as error:
        raise CodeTaken(f"A voucher with code {code} already exists.") from error


async def get_voucher(connection: AsyncConnection, code: str) -> VoucherRead:
    """One voucher by code (case-insensitive)."""
    row = await repository.get_by_key(connection, code_key(code))
    if row is None:
        raise VoucherNotFound(f"No voucher has the code {code}.")
    return to_read(row, clock.now())


async def list_vouchers(
    connection: AsyncConnection,
    *,
    status: VoucherStatus | None,
    batch_id: str | None,
    prefix: str | None,
    limit: int,
    cursor: str | None,
) -> Page[VoucherRead]:
    """A page of vouchers, newest first."""
    try:
        after_id = decode_cursor(cursor) if cursor else None
    except BadCursor as error:
        raise _field_error("cursor", "not a cursor this service returned") from error
    now = clock.now()
    rows = await repository.list_vouchers(
        connection,
        now=now,
        status=status,
        batch_id=batch_id,
        prefix=prefix,
        after_id=after_id,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].id) if more and rows else None
    return Page[VoucherRead](items=[to_read(row, now) for row in rows], next_cursor=next_cursor)


async def update_voucher(
    connection: AsyncConnection, code: str, body: VoucherUpdate, zone: ZoneInfo
) -> VoucherRead:
    """Change the fields sent; the voucher's row is locked while it is checked and written."""
    sent = body.model_fields_set
    for field in ("max_redemptions", "expires_at", "disabled", "metadata"):
        if field in sent and getattr(body, field) is None:
            raise _field_error(field, "may not be null")
    changes: dict[str, Any] = {}
    if "expires_at" in sent and body.expires_at is not None:
        changes["expires_at"] = resolve_expiry(body.expires_at, zone)
    if "starts_at" in sent:
        changes["starts_at"] = (
            resolve_start(body.starts_at, zone) if body.starts_at is not None else None
        )
    for field in ("max_redemptions", "per_customer_limit", "disabled", "metadata"):
        if field in sent:
            changes[field] = getattr(body, field)

    row = await repository.get_by_key(connection, code_key(code), for_update=True)
    if row is None:
        raise VoucherNotFound(f"No voucher has the code {code}.")
    check_window(changes.get("starts_at", row.starts_at), changes.get("expires_at", row.expires_at))
    new_max = changes.get("max_redemptions", row.max_redemptions)
    if new_max < row.redeemed:
        raise LimitBelowRedeemed(
            f"Voucher {row.code} has {row.redeemed} redemptions; "
            f"max_redemptions cannot go below that.",
            redeemed=row.redeemed,
        )
    now = clock.now()
    if changes:
        row = await repository.update_voucher(connection, row.id, {**changes, "updated_at": now})
    return to_read(row, now)


async def delete_voucher(connection: AsyncConnection, code: str) -> None:
    """Delete a voucher whose ledger is empty."""
    row = await repository.get_by_key(connection, code_key(code), for_update=True)
    if row is None:
        raise VoucherNotFound(f"No voucher has the code {code}.")
    if await repository.has_redemptions(connection, row.id):
        raise VoucherHasRedemptions(
            f"Voucher {row.code} has redemptions; disable it instead of deleting it."
        )
    await repository.delete_voucher(connection, row.id)


# Read-only views of the web console's dashboard.


async def status_counts(connection: AsyncConnection) -> dict[VoucherStatus, int]:
    """How many vouchers have each status now."""
    return await repository.count_by_status(connection, clock.now())


async def running_low(connection: AsyncConnection, *, limit: int = 8) -> list[VoucherRead]:
    """Active vouchers with a fifth or less of their redemptions left, fewest first."""
    now = clock.now()
    rows = await repository.running_low(connection, now, fraction_denominator=5, limit=limit)
    return [to_read(row, now) for row in rows]


async def expiring_soon(
    connection: AsyncConnection, *, within: timedelta, limit: int = 8
) -> list[VoucherRead]:
    """Active vouchers that expire within ``within``, soonest first."""
    now = clock.now()
    rows = await repository.expiring_soon(connection, now, now + within, limit=limit)
    return [to_read(row, now) for row in rows]
