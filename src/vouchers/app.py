"""create_app(): settings, lifespan (database, migrations, engine), routers, handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from vouchers import migrate
from vouchers.auth import load_keys
from vouchers.batches.router import router as batches_router
from vouchers.batches.runner import BatchRunner
from vouchers.config import Settings
from vouchers.db import Database, create_engine
from vouchers.logs import configure_logging
from vouchers.middleware import RequestContextMiddleware
from vouchers.operations import router as operations_router
from vouchers.problems import install_handlers
from vouchers.ratelimit import build_guard
from vouchers.redemptions.engine import RedemptionEngine
from vouchers.redemptions.idempotency import purge_idempotency_keys
from vouchers.redemptions.router import admin_router as redemption_admin_router
from vouchers.redemptions.router import public_router as redemption_public_router
from vouchers.redemptions.router import redeem_router
from vouchers.redemptions.shortcut import RedeemShortcut
from vouchers.vouchers.router import router as vouchers_router
from vouchers.web import install as install_web

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; branch on `code`.",
    "required": ["type", "title", "status", "detail", "code", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "remaining": {"type": "integer"},
        "customer_remaining": {"type": "integer"},
    },
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the voucher service application."""
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        if settings.auto_migrate:
            await asyncio.to_thread(migrate.upgrade, url)
        else:
            migrate.ensure_sqlite_directory(url)
        database = Database(
            create_engine(url, pool_size=settings.db_pool_size, timeout=settings.db_timeout)
        )
        engine = RedemptionEngine(
            database,
            enabled=settings.group_commit,
            consumers=1 if database.is_sqlite else settings.group_consumers,
            max_group=settings.max_group,
        )
        app.state.settings = settings
        app.state.database = database
        app.state.keys = load_keys(settings)
        app.state.redemption_engine = engine
        app.state.guard = build_guard(
            limit=settings.lookup_limit,
            window=settings.lookup_window,
            redis_url=settings.redis_url,
            redis_prefix=settings.redis_prefix,
            trusted=settings.trusted_proxies,
        )
        engine.start()
        purger = asyncio.create_task(purge_idempotency_keys(database), name="idempotency-purge")
        # Batches: fail the ones a stopped server left unfinished; stop ours at shutdown.
        batch_runner = BatchRunner(database)
        app.state.batch_runner = batch_runner
        await batch_runner.recover()
        try:
            yield
        finally:
            purger.cancel()
            await batch_runner.close()
            await engine.close()
            await app.state.guard.limiter.close()
            await database.dispose()

    # FastAPIOffline serves /docs and /redoc with their scripts from the package,
    # not from a CDN: the docs work on a network that reaches nothing outside.
    app = FastAPIOffline(
        static_url="/docs-assets",
        title="Vouchers",
        version="1.0.0",
        summary="Voucher (coupon) redemption service",
        lifespan=lifespan,
        # The service exports its own Prometheus metrics; FastAPI's OpenTelemetry
        # hooks would only cost a provider look-up on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Added first, so it runs inside RequestContextMiddleware (request ids, limits, metrics).
    app.add_middleware(RedeemShortcut, fastapi_app=app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=MAX_BODY_BYTES)
    install_handlers(app)
    app.include_router(operations_router)
    app.include_router(vouchers_router)
    app.include_router(redeem_router)
    app.include_router(redemption_public_router)
    app.include_router(redemption_admin_router)
    app.include_router(batches_router)

    # Web console (/admin) and public redeem page (/): see vouchers.web.
    install_web(app)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                PROBLEM_SCHEMA
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
