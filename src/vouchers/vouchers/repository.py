"""Every SQL statement about vouchers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from vouchers.codes import code_key
from vouchers.redemptions.tables import redemptions
from vouchers.vouchers.schemas import VoucherStatus
from vouchers.vouchers.tables import vouchers

VoucherRow = Row[Any]


async def insert_voucher(connection: AsyncConnection, values: dict[str, Any]) -> VoucherRow:
    """Insert one voucher and return its row (IntegrityError if the code exists)."""
    result = await connection.execute(insert(vouchers).values(**values).returning(vouchers))
    row: VoucherRow = result.one()
    return row


async def get_by_key(
    connection: AsyncConnection, key: str, *, for_update: bool = False
) -> VoucherRow | None:
    """The voucher with this code key, optionally locked for the transaction."""
    query = select(vouchers).where(vouchers.c.code_key == key)
    if for_update:
        query = query.with_for_update()
    return (await connection.execute(query)).one_or_none()


async def get_by_id(
    connection: AsyncConnection, voucher_id: int, *, for_update: bool = False
) -> VoucherRow | None:
    """The voucher with this id, optionally locked for the transaction."""
    query = select(vouchers).where(vouchers.c.id == voucher_id)
    if for_update:
        query = query.with_for_update()
    return (await connection.execute(query)).one_or_none()


def status_condition(status: VoucherStatus, now: datetime) -> ColumnElement[bool]:
    """SQL for 'has this derived status', in the contract's order of precedence."""
    c = vouchers.c
    enabled = c.disabled == false()
    live = and_(enabled, c.expires_at > now)
    started = or_(c.starts_at.is_(None), c.starts_at <= now)
    conditions: dict[VoucherStatus, ColumnElement[bool]] = {
        VoucherStatus.disabled: c.disabled == true(),
        VoucherStatus.expired: and_(enabled, c.expires_at <= now),
        VoucherStatus.scheduled: and_(live, not_(started)),
        VoucherStatus.exhausted: and_(live, started, c.redeemed >= c.max_redemptions),
        VoucherStatus.active: and_(live, started, c.redeemed < c.max_redemptions),
    }
    return conditions[status]


# Codes hold only A-Z a-z 0-9 - and _ (keys are upper-cased), all below 0x7f: in
# code-point order, a key starts with P exactly when P <= key < P + chr(0x7f).
PREFIX_END = chr(0x7F)
_CODE_POINT_ORDER = "vouchers.code_point_order"
# True only where text compares by code point, as the range needs (a linguistic
# collation such as en_US ignores '-' and '_' and would drop matching keys).
_CODE_POINT_ORDER_PROBE = text(
    "SELECT 'AB-1' < 'AB-' || chr(127) AND 'Z' < '_' AND '_' < 'a' AND '-' < '0'"
)


async def code_key_prefix_condition(
    connection: AsyncConnection, prefix: str
) -> ColumnElement[bool]:
    """SQL for 'the code starts with prefix' (any case), as a range the code_key index serves."""
    start = code_key(prefix)
    column: ColumnElement[str] = vouchers.c.code_key
    if not await _compares_by_code_point(connection):
        column = column.collate("C")  # correct on any collation; the index cannot help then
    return and_(column >= start, column < start + PREFIX_END)


async def _compares_by_code_point(connection: AsyncConnection) -> bool:
    """Whether the database orders text by code point (SQLite always; PostgreSQL with C)."""
    if connection.dialect.name == "sqlite":
        return True
    known = connection.info.get(_CODE_POINT_ORDER)
    if known is None:
        known = bool(await connection.scalar(_CODE_POINT_ORDER_PROBE))
        connection.info[_CODE_POINT_ORDER] = known
    return bool(known)


async def list_vouchers(
    connection: AsyncConnection,
    *,
    now: datetime,
    status: VoucherStatus | None,
    batch_id: str | None,
    prefix: str | None,
    after_id: int | None,
    limit: int,
) -> list[VoucherRow]:
    """Up to ``limit`` vouchers matching the filters, newest first, after a cursor."""
    query = select(vouchers).order_by(vouchers.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(status_condition(status, now))
    if batch_id is not None:
        query = query.where(vouchers.c.batch_id == batch_id)
    if prefix:
        query = query.where(await code_key_prefix_condition(connection, prefix))
    if after_id is not None:
        query = query.where(vouchers.c.id < after_id)
    return list((await connection.execute(query)).all())


async def update_voucher(
    connection: AsyncConnection, voucher_id: int, values: dict[str, Any]
) -> VoucherRow:
    """Write changed fields of one voucher and return its new row."""
    query = update(vouchers).where(vouchers.c.id == voucher_id).values(**values)
    row: VoucherRow = (await connection.execute(query.returning(vouchers))).one()
    return row


async def has_redemptions(connection: AsyncConnection, voucher_id: int) -> bool:
    """Whether the voucher's ledger has any row, reversed or not."""
    query = select(exists().where(redemptions.c.voucher_id == voucher_id))
    return bool((await connection.execute(query)).scalar())


async def delete_voucher(connection: AsyncConnection, voucher_id: int) -> None:
    """Delete one voucher row."""
    await connection.execute(delete(vouchers).where(vouchers.c.id == voucher_id))


# Read-only queries of the web console's dashboard.


async def count_by_status(connection: AsyncConnection, now: datetime) -> dict[VoucherStatus, int]:
    """How many vouchers have each status, in one pass over the table (no index can help)."""
    columns = [
        func.coalesce(func.sum(case((status_condition(status, now), 1), else_=0)), 0).label(
            status.value
        )
        for status in VoucherStatus
    ]
    row = (await connection.execute(select(*columns).select_from(vouchers))).one()
    return {status: int(row._mapping[status.value]) for status in VoucherStatus}


async def running_low(
    connection: AsyncConnection, now: datetime, *, fraction_denominator: int, limit: int
) -> list[VoucherRow]:
    """Active vouchers with at most 1/``fraction_denominator`` of their limit left, fewest first."""
    remaining = vouchers.c.max_redemptions - vouchers.c.redeemed
    query = (
        select(vouchers)
        .where(status_condition(VoucherStatus.active, now))
        .where(remaining * fraction_denominator <= vouchers.c.max_redemptions)
        .order_by(remaining, vouchers.c.id.desc())
        .limit(limit)
    )
    return list((await connection.execute(query)).all())


async def expiring_soon(
    connection: AsyncConnection, now: datetime, until: datetime, *, limit: int
) -> list[VoucherRow]:
    """Active vouchers that expire before ``until``, soonest first."""
    query = (
        select(vouchers)
        .where(status_condition(VoucherStatus.active, now))
        .where(vouchers.c.expires_at < until)
        .order_by(vouchers.c.expires_at, vouchers.c.id)
        .limit(limit)
    )
    return list((await connection.execute(query)).all())
