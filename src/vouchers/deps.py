"""FastAPI dependencies: the database, settings, keys, request id and idempotency claims."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError as PydanticValidationError

from vouchers.auth import Keys, bearer_token
from vouchers.codes import clean_code
from vouchers.config import Settings
from vouchers.db import Database
from vouchers.errors import MalformedRequest, ValidationFailed
from vouchers.ratelimit import Guard
from vouchers.redemptions.engine import RedemptionEngine
from vouchers.redemptions.idempotency import KEY_PATTERN, IdempotencyClaim, fingerprint
from vouchers.redemptions.schemas import RedemptionRequest


async def get_database(request: Request) -> Database:
    """The app's database."""
    database: Database = request.app.state.database
    return database


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> RedemptionEngine:
    """The app's redemption engine."""
    engine: RedemptionEngine = request.app.state.redemption_engine
    return engine


def request_id_of(request: Request) -> str:
    """This request's id (also sent back as X-Request-ID)."""
    return str(request.scope.get("state", {}).get("request_id", "req_unknown"))


async def get_request_id(request: Request) -> str:
    """This request's id, as a dependency."""
    return request_id_of(request)


# Declares the bearer scheme in the OpenAPI (the Authorize button in /docs);
# the check itself is ours, so a missing key is our 401 problem, not FastAPI's.
admin_bearer = HTTPBearer(auto_error=False, description="The admin key")


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> None:
    """Admin routes: a valid admin key, or 401/403."""
    keys: Keys = request.app.state.keys
    keys.require_admin(credentials.credentials if credentials else None)


async def require_redeemer(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Redeem and validate: rate limited per address; open unless VOUCHERS_REDEEM_KEY is set."""
    await authorize_public(request)


async def authorize_public(request: Request) -> None:
    """The public routes' checks: the address's look-up budget, then the redeem key if set."""
    guard: Guard = request.app.state.guard
    await guard.check(client_address_of(request))
    keys: Keys = request.app.state.keys
    keys.require_redeemer(bearer_token(request.headers.get("authorization")))


def client_address_of(request: Request) -> str:
    """The address this request's failed look-ups count against."""
    guard: Guard = request.app.state.guard
    peer = request.client.host if request.client else None
    return guard.address(peer, request.headers.get("x-forwarded-for"))


async def record_failed_lookup(request: Request) -> None:
    """Count a voucher_not_found answer against the request's address."""
    guard: Guard = request.app.state.guard
    await guard.record_failed_lookup(client_address_of(request))


async def get_claim(
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> IdempotencyClaim | None:
    """The request's Idempotency-Key with the fingerprint of what it asks."""
    if idempotency_key is None:
        return None
    return claim_of(request, await request.body())


def claim_of(request: Request, raw_body: bytes) -> IdempotencyClaim | None:
    """The Idempotency-Key claim of a request whose body has been read."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise ValidationFailed(
            [{"field": "Idempotency-Key", "message": "1-255 printable ASCII characters"}]
        )
    try:
        body = json.loads(raw_body) if raw_body.strip() else {}
    except ValueError as error:
        raise MalformedRequest("The request body is not valid JSON.") from error
    return IdempotencyClaim(key, fingerprint(request.method, request.url.path, body))


def parse_code(raw: str) -> str:
    """A code from the path, checked like every code field (422 when malformed)."""
    try:
        return clean_code(raw)
    except ValueError as error:
        raise ValidationFailed([{"field": "code", "message": str(error)}]) from error


def parse_redemption_request(raw_body: bytes) -> RedemptionRequest:
    """A redemption body from raw bytes: empty means defaults; errors as 400/422."""
    if not raw_body.strip():
        return RedemptionRequest()
    try:
        return RedemptionRequest.model_validate_json(raw_body)
    except PydanticValidationError as error:
        problems = error.errors(include_url=False)
        if any(problem["type"] == "json_invalid" for problem in problems):
            raise MalformedRequest("The request body is not valid JSON.") from error
        raise ValidationFailed(
            [
                {
                    "field": ".".join(str(part) for part in problem["loc"]) or "body",
                    "message": problem["msg"].removeprefix("Value error, "),
                }
                for problem in problems
            ]
        ) from error


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[RedemptionEngine, Depends(get_engine)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
ClaimDep = Annotated[IdempotencyClaim | None, Depends(get_claim)]
AdminOnly = [Depends(require_admin)]
RedeemerOnly = [Depends(require_redeemer)]
