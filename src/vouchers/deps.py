"""FastAPI dependencies: the database, settings, keys, request id and idempotency claims."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Header, Request

from vouchers.auth import Keys, bearer_token
from vouchers.config import Settings
from vouchers.db import Database
from vouchers.errors import MalformedRequest, ValidationFailed
from vouchers.redemptions.engine import RedemptionEngine
from vouchers.redemptions.idempotency import KEY_PATTERN, IdempotencyClaim, fingerprint


def get_database(request: Request) -> Database:
    """The app's database."""
    database: Database = request.app.state.database
    return database


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> RedemptionEngine:
    """The app's redemption engine."""
    engine: RedemptionEngine = request.app.state.redemption_engine
    return engine


def get_request_id(request: Request) -> str:
    """This request's id (also sent back as X-Request-ID)."""
    return str(request.scope.get("state", {}).get("request_id", "req_unknown"))


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Admin routes: a valid admin key, or 401/403."""
    keys: Keys = request.app.state.keys
    keys.require_admin(bearer_token(authorization))


def require_redeemer(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Redeem and validate: open, unless VOUCHERS_REDEEM_KEY is set."""
    keys: Keys = request.app.state.keys
    keys.require_redeemer(bearer_token(authorization))


async def get_claim(
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> IdempotencyClaim | None:
    """The request's Idempotency-Key with the fingerprint of what it asks."""
    if idempotency_key is None:
        return None
    if not KEY_PATTERN.fullmatch(idempotency_key):
        raise ValidationFailed(
            [{"field": "Idempotency-Key", "message": "1-255 printable ASCII characters"}]
        )
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as error:
        raise MalformedRequest("The request body is not valid JSON.") from error
    return IdempotencyClaim(idempotency_key, fingerprint(request.method, request.url.path, body))


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[RedemptionEngine, Depends(get_engine)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
ClaimDep = Annotated[IdempotencyClaim | None, Depends(get_claim)]
AdminOnly = [Depends(require_admin)]
RedeemerOnly = [Depends(require_redeemer)]
