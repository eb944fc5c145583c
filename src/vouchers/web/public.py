"""The public redeem page: a voucher code, a quantity, and a plain-words answer."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from vouchers.auth import Keys
from vouchers.codes import clean_code, code_key
from vouchers.config import Settings
from vouchers.deps import EngineDep, RequestIdDep, client_address_of
from vouchers.errors import RateLimited, VoucherNotFound
from vouchers.ratelimit import Guard
from vouchers.redemptions.engine import RedeemCommand
from vouchers.redemptions.idempotency import IdempotencyClaim, fingerprint
from vouchers.redemptions.schemas import RedemptionRequest
from vouchers.web.forms import FieldErrors, parse_count, read_form
from vouchers.web.outcomes import Outcome, failure, success
from vouchers.web.templating import render

router = APIRouter(include_in_schema=False)

FORM_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
IDEMPOTENCY_PREFIX = "web-redeem:"


def _keys(request: Request) -> Keys:
    keys: Keys = request.app.state.keys
    return keys


def _page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: FieldErrors | None = None,
    outcome: Outcome | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "redeem.html",
        {
            "values": values or {"quantity": "1"},
            "errors": errors or {},
            "outcome": outcome,
            "form_id": secrets.token_urlsafe(24),
            "key_required": _keys(request).redeem is not None,
        },
        status_code,
    )


@router.get("/", response_class=HTMLResponse)
async def redeem_page(request: Request) -> HTMLResponse:
    """The public page where a customer redeems a voucher."""
    return _page(request)


@router.post("/", response_class=HTMLResponse)
async def redeem_submit(
    request: Request, engine: EngineDep, request_id: RequestIdDep
) -> HTMLResponse:
    """Redeem through the redemption engine and say what happened, in plain words.

    Like the API's redeem route it is rate limited per address (unknown codes
    count against it) and honours VOUCHERS_REDEEM_KEY. The form carries a
    one-time id used as an idempotency key, so sending the same form twice (a
    double click, a reload) redeems once and shows the same answer again. The
    page uses no cookies, so there is nothing for a cross-site request to
    borrow: it can do only what anyone can do here.
    """
    form = await read_form(request)
    values = {
        "code": form.get("code", "").strip()[:80],
        "quantity": form.get("quantity", "").strip()[:20],
        "customer_id": form.get("customer_id", "").strip()[:200],
    }
    guard: Guard = request.app.state.guard
    address = client_address_of(request)
    try:
        await guard.check(address)
    except RateLimited as error:
        outcome = failure(
            {"code": RateLimited.code, "retry_after": error.retry_after},
            quantity=0,
            zone=request.app.state.settings.zone,
        )
        response = _page(request, values=values, outcome=outcome, status_code=429)
        response.headers.update(error.headers())
        return response
    keys = _keys(request)
    if keys.redeem is not None:
        presented = form.get("redeem_key") or None
        if not (keys.is_redeemer(presented) or keys.is_admin(presented)):
            outcome = Outcome(
                False,
                "This server needs the redeem key before anything can be redeemed here.",
                "Enter the redeem key your administrator gave you, then press Redeem again.",
                "redeem_key",
            )
            return _page(request, values=values, outcome=outcome, status_code=401)

    errors: FieldErrors = {}
    code = ""
    try:
        code = clean_code(values["code"])
    except ValueError:
        errors["code"] = (
            "Enter the voucher code: up to 64 letters, digits, dashes (-) or underscores (_)."
        )
    quantity = parse_count(form, "quantity", errors, required=True)
    customer_id = values["customer_id"] or None
    if customer_id is not None and len(customer_id) > 128:
        errors["customer_id"] = "A customer ID has at most 128 characters."
    if errors or quantity is None:
        return _page(request, values=values, errors=errors, status_code=422)

    body: dict[str, Any] = {"quantity": quantity}
    if customer_id is not None:
        body["customer_id"] = customer_id
    try:
        redemption_request = RedemptionRequest.model_validate(body)
    except ValidationError:
        return _page(
            request, values=values, errors={"quantity": "Check this value."}, status_code=422
        )
    form_id = form.get("form_id", "")
    claim = None
    if FORM_ID.fullmatch(form_id):
        path = f"/v1/vouchers/{code}/redemptions"
        claim = IdempotencyClaim(IDEMPOTENCY_PREFIX + form_id, fingerprint("POST", path, body))

    answer = await engine.submit(
        RedeemCommand(
            code=code,
            key=code_key(code),
            request=redemption_request,
            claim=claim,
            request_id=request_id,
        )
    )
    payload = json.loads(answer.body)
    if payload.get("code") == VoucherNotFound.code:
        await guard.record_failed_lookup(address)
    if answer.status == 201:
        outcome = success(payload, replayed=answer.replayed)
        return _page(request, values={"code": code, "quantity": "1"}, outcome=outcome)
    settings: Settings = request.app.state.settings
    outcome = failure(payload, quantity=quantity, zone=settings.zone)
    return _page(request, values=values, outcome=outcome, status_code=answer.status)
