"""HTTP routes for redeeming, validating, the ledger and reversals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.codes import code_key
from vouchers.deps import (
    AdminOnly,
    ClaimDep,
    DatabaseDep,
    RedeemerOnly,
    RequestIdDep,
    authorize_public,
    claim_of,
    parse_code,
    parse_redemption_request,
    record_failed_lookup,
    request_id_of,
)
from vouchers.errors import (
    CustomerLimitReached,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InsufficientRedemptions,
    MalformedRequest,
    RateLimited,
    RedemptionNotFound,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
    VoucherDisabled,
    VoucherExhausted,
    VoucherExpired,
    VoucherNotFound,
    VoucherNotStarted,
)
from vouchers.redemptions import service
from vouchers.redemptions.engine import RedeemCommand, RedemptionEngine
from vouchers.redemptions.idempotency import Answer, run_idempotent
from vouchers.redemptions.schemas import RedemptionRead, RedemptionRequest, ValidationResult
from vouchers.responses import answer_response, error_responses
from vouchers.schemas import Code, Page

public_router = APIRouter(prefix="/v1/vouchers", tags=["redemptions"], dependencies=RedeemerOnly)
# The hot path: no dependency injection, the same checks made inline (see redeem).
redeem_router = APIRouter(prefix="/v1/vouchers", tags=["redemptions"])
admin_router = APIRouter(tags=["redemptions"], dependencies=AdminOnly)

CodePath = Annotated[Code, Path(description="The voucher's code (case-insensitive)")]
OptionalBody = Annotated[RedemptionRequest | None, Body()]
REDEEM_OPENAPI = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RedemptionRequest"}}
        },
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
    ],
}
AUTH_ERRORS = (Unauthorized, Forbidden, ValidationFailed)


@redeem_router.post(
    "/{code}/redemptions",
    status_code=201,
    response_model=RedemptionRead,
    responses=error_responses(
        *AUTH_ERRORS,
        MalformedRequest,
        VoucherNotFound,
        VoucherExpired,
        VoucherNotStarted,
        VoucherDisabled,
        VoucherExhausted,
        InsufficientRedemptions,
        CustomerLimitReached,
        IdempotencyInProgress,
        IdempotencyKeyReused,
        RateLimited,
        ServiceUnavailable,
    ),
    openapi_extra=REDEEM_OPENAPI,
)
async def redeem(code: str, request: Request) -> Response:
    """Redeem a voucher: all of `quantity` or nothing (`exact`), or as many as remain (`up_to`)."""
    # The hot path makes the public routes' checks and parses its body itself
    # (one pydantic call on the raw bytes) instead of through FastAPI's
    # dependency and body machinery; the rules and answers are the same.
    await authorize_public(request)
    engine: RedemptionEngine = request.app.state.redemption_engine
    raw = await request.body()
    command = RedeemCommand(
        code=parse_code(code),
        key=code_key(code),
        request=parse_redemption_request(raw),
        claim=claim_of(request, raw),
        request_id=request_id_of(request),
    )
    answer = await engine.submit(command)
    if answer.error is not None and answer.error.code == VoucherNotFound.code:
        await record_failed_lookup(request)
    return answer_response(answer)


@public_router.post(
    "/{code}/validate",
    response_model=ValidationResult,
    responses=error_responses(*AUTH_ERRORS, MalformedRequest, RateLimited, ServiceUnavailable),
)
async def validate(
    request: Request, code: CodePath, database: DatabaseDep, body: OptionalBody = None
) -> ValidationResult:
    """Dry run: would this redemption succeed now, and if not, with which error code."""
    async with database.read() as connection:
        result = await service.validate(connection, code, body or RedemptionRequest())
    if result.code == VoucherNotFound.code:
        await record_failed_lookup(request)
    return result


@admin_router.get(
    "/v1/vouchers/{code}/redemptions",
    response_model=Page[RedemptionRead],
    responses=error_responses(*AUTH_ERRORS, VoucherNotFound),
)
async def list_redemptions(
    code: CodePath,
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[RedemptionRead]:
    """A voucher's ledger, newest first."""
    async with database.read() as connection:
        return await service.list_redemptions(connection, code, limit=limit, cursor=cursor)


RedemptionId = Annotated[str, Path(max_length=64)]


@admin_router.get(
    "/v1/redemptions/{redemption_id}",
    response_model=RedemptionRead,
    responses=error_responses(*AUTH_ERRORS, RedemptionNotFound),
)
async def get_redemption(redemption_id: RedemptionId, database: DatabaseDep) -> RedemptionRead:
    """One redemption by id."""
    async with database.read() as connection:
        return await service.get_redemption(connection, redemption_id)


@admin_router.post(
    "/v1/redemptions/{redemption_id}/reversal",
    response_model=RedemptionRead,
    responses=error_responses(*AUTH_ERRORS, RedemptionNotFound, IdempotencyInProgress),
)
async def reverse(
    redemption_id: RedemptionId,
    database: DatabaseDep,
    claim: ClaimDep,
    request_id: RequestIdDep,
) -> Response:
    """Undo a redemption (a refund); reversing twice restores nothing twice."""

    async def effect(connection: AsyncConnection) -> Answer:
        redemption = await service.reverse(connection, redemption_id)
        return Answer(200, redemption.model_dump_json().encode())

    async with database.transaction() as connection:
        answer = await run_idempotent(connection, claim, request_id, clock.now(), effect)
    return answer_response(answer)
