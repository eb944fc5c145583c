"""HTTP routes for batches: create, read, and export as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.batches import service
from vouchers.batches.runner import BatchRunner
from vouchers.batches.schemas import BatchCreate, BatchRead
from vouchers.deps import AdminOnly, ClaimDep, DatabaseDep, RequestIdDep, SettingsDep
from vouchers.errors import (
    BatchNotFound,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    KeyspaceTooSmall,
    MalformedRequest,
    Unauthorized,
    ValidationFailed,
)
from vouchers.redemptions.idempotency import Answer, run_idempotent
from vouchers.responses import answer_response, error_responses
from vouchers.vouchers.schemas import VoucherStatus

router = APIRouter(prefix="/v1/batches", tags=["batches"], dependencies=AdminOnly)

AUTH_ERRORS = (Unauthorized, Forbidden, ValidationFailed)
BatchIdPath = Annotated[
    str, Path(description="The batch's id", max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
]


def get_runner(request: Request) -> BatchRunner:
    """The app's batch runner."""
    runner: BatchRunner = request.app.state.batch_runner
    return runner


RunnerDep = Annotated[BatchRunner, Depends(get_runner)]


@router.post(
    "",
    status_code=202,
    response_model=BatchRead,
    responses=error_responses(
        *AUTH_ERRORS,
        MalformedRequest,
        KeyspaceTooSmall,
        IdempotencyKeyReused,
        IdempotencyInProgress,
    ),
)
async def create_batch(
    body: BatchCreate,
    database: DatabaseDep,
    settings: SettingsDep,
    runner: RunnerDep,
    claim: ClaimDep,
    request_id: RequestIdDep,
) -> Response:
    """Start generating `count` unique random codes; poll the batch until it is done."""
    async with runner.reserve() as reservation:

        async def effect(connection: AsyncConnection) -> Answer:
            batch = await service.create_batch(connection, reservation.batch_id, body, settings)
            reservation.recorded = True
            return Answer(202, batch.model_dump_json().encode())

        async with database.transaction() as connection:
            answer = await run_idempotent(connection, claim, request_id, clock.now(), effect)
    headers = {}
    if answer.status == 202:
        headers["Location"] = f"/v1/batches/{BatchRead.model_validate_json(answer.body).id}"
    return answer_response(answer, headers)


@router.get(
    "/{batch_id}", response_model=BatchRead, responses=error_responses(*AUTH_ERRORS, BatchNotFound)
)
async def get_batch(batch_id: BatchIdPath, runner: RunnerDep) -> BatchRead:
    """One batch: its status, progress (`created` of `count`), and error if it failed."""
    return await runner.read(batch_id)


@router.get(
    "/{batch_id}/codes",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The batch's vouchers as CSV"},
        **error_responses(*AUTH_ERRORS, BatchNotFound),
    },
)
async def export_codes(
    batch_id: BatchIdPath,
    database: DatabaseDep,
    runner: RunnerDep,
    status: VoucherStatus | None = None,
) -> StreamingResponse:
    """The batch's vouchers as CSV (`code,max_redemptions,redeemed,remaining,expires_at,status`)."""
    await runner.read(batch_id)  # 404 before the response starts
    return StreamingResponse(
        service.export_csv(database, batch_id, status, clock.now()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{batch_id}.csv"'},
    )
