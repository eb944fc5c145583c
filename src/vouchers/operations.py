"""Operational routes: liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from vouchers import metrics
from vouchers.deps import DatabaseDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """200 while the process runs."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(database: DatabaseDep) -> JSONResponse:
    """200 when the database answers, else 503."""
    try:
        async with database.read() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(database: DatabaseDep) -> Response:
    """Prometheus metrics of every worker of this server."""
    metrics.POOL_IN_USE.set(database.connections_in_use())
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
