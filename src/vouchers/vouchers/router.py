"""HTTP routes for vouchers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.deps import AdminOnly, ClaimDep, DatabaseDep, RequestIdDep, SettingsDep
from vouchers.errors import (
    CodeTaken,
    Forbidden,
    LimitBelowRedeemed,
    MalformedRequest,
    Unauthorized,
    ValidationFailed,
    VoucherHasRedemptions,
    VoucherNotFound,
)
from vouchers.redemptions.idempotency import Answer, run_idempotent
from vouchers.responses import answer_response, error_responses
from vouchers.schemas import Code, Page
from vouchers.vouchers import service
from vouchers.vouchers.schemas import VoucherCreate, VoucherRead, VoucherStatus, VoucherUpdate

router = APIRouter(prefix="/v1/vouchers", tags=["vouchers"], dependencies=AdminOnly)

AUTH_ERRORS = (Unauthorized, Forbidden, ValidationFailed)
CodePath = Annotated[Code, Path(description="The voucher's code (case-insensitive)")]


@router.post(
    "",
    status_code=201,
    response_model=VoucherRead,
    responses=error_responses(*AUTH_ERRORS, MalformedRequest, CodeTaken),
)
async def create_voucher(
    body: VoucherCreate,
    database: DatabaseDep,
    settings: SettingsDep,
    claim: ClaimDep,
    request_id: RequestIdDep,
) -> Response:
    """Create one voucher; its code is generated when none is given."""

    async def effect(connection: AsyncConnection) -> Answer:
        voucher = await service.create_voucher(connection, body, settings.zone)
        return Answer(201, voucher.model_dump_json().encode())

    async with database.transaction() as connection:
        answer = await run_idempotent(connection, claim, request_id, clock.now(), effect)
    headers = {}
    if answer.status == 201:
        headers["Location"] = f"/v1/vouchers/{VoucherRead.model_validate_json(answer.body).code}"
    return answer_response(answer, headers)


@router.get("", response_model=Page[VoucherRead], responses=error_responses(*AUTH_ERRORS))
async def list_vouchers(
    database: DatabaseDep,
    status: VoucherStatus | None = None,
    batch_id: Annotated[str | None, Query(max_length=40)] = None,
    prefix: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[VoucherRead]:
    """List vouchers, newest first, filtered by status, batch or code prefix."""
    async with database.read() as connection:
        return await service.list_vouchers(
            connection, status=status, batch_id=batch_id, prefix=prefix, limit=limit, cursor=cursor
        )


@router.get(
    "/{code}", response_model=VoucherRead, responses=error_responses(*AUTH_ERRORS, VoucherNotFound)
)
async def get_voucher(code: CodePath, database: DatabaseDep) -> VoucherRead:
    """One voucher by its code."""
    async with database.read() as connection:
        return await service.get_voucher(connection, code)


@router.patch(
    "/{code}",
    response_model=VoucherRead,
    responses=error_responses(*AUTH_ERRORS, MalformedRequest, VoucherNotFound, LimitBelowRedeemed),
)
async def update_voucher(
    code: CodePath, body: VoucherUpdate, database: DatabaseDep, settings: SettingsDep
) -> VoucherRead:
    """Change a voucher's limit, window, customer limit, disabled flag or metadata."""
    async with database.transaction() as connection:
        return await service.update_voucher(connection, code, body, settings.zone)


@router.delete(
    "/{code}",
    status_code=204,
    responses=error_responses(*AUTH_ERRORS, VoucherNotFound, VoucherHasRedemptions),
)
async def delete_voucher(code: CodePath, database: DatabaseDep) -> Response:
    """Delete a voucher that was never redeemed."""
    async with database.transaction() as connection:
        await service.delete_voucher(connection, code)
    return Response(status_code=204)
