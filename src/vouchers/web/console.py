"""The administrators' console: sign-in, dashboard, vouchers, ledger and reversals.

Pages call the same service functions as the JSON API, inside the same kind of
unit of work (``Database.read()`` or ``Database.transaction()``); there is no
SQL here. Every POST checks the session's CSRF token; every change redirects
(303) to a page that shows its result, so a reload never repeats it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.auth import Keys
from vouchers.codes import CODE_PATTERN, clean_code
from vouchers.config import Settings
from vouchers.db import Database
from vouchers.deps import DatabaseDep, RequestIdDep, SettingsDep, client_address_of
from vouchers.errors import (
    CodeTaken,
    LimitBelowRedeemed,
    RateLimited,
    RedemptionNotFound,
    ValidationFailed,
    VoucherNotFound,
)
from vouchers.ratelimit import Guard
from vouchers.redemptions import service as redemption_service
from vouchers.redemptions.idempotency import Answer, IdempotencyClaim, fingerprint, run_idempotent
from vouchers.redemptions.schemas import DailyRedemptions
from vouchers.vouchers import service as voucher_service
from vouchers.vouchers.schemas import VoucherCreate, VoucherRead, VoucherStatus, VoucherUpdate
from vouchers.web.auth import (
    CSRF_FIELD,
    CheckedFormDep,
    SessionDep,
    optional_session,
    safe_next,
    session_secret,
)
from vouchers.web.forms import (
    FieldErrors,
    optional_text,
    parse_count,
    pydantic_errors,
    read_form,
    service_errors,
)
from vouchers.web.session import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    SIGN_IN_COOKIE,
    SIGN_IN_MAX_AGE,
    Session,
    check_sign_in_token,
    issue_session,
    new_sign_in_nonce,
    sign_in_token,
)
from vouchers.web.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE_SIZE = 50
EXPIRING_WITHIN = timedelta(days=7)
SUMMARY_MAX_AGE = 60.0
FORM_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REDEMPTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NOTICES = {
    "created": "Voucher created.",
    "disabled": "Voucher disabled: it cannot be redeemed until you enable it again.",
    "enabled": "Voucher enabled.",
    "expiry": "Expiry changed.",
    "limit": "Limit changed.",
    "reversed": "Redemption reversed: its quantity is back on the voucher.",
}


def _console(
    request: Request,
    session: Session,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        template,
        {"csrf_token": session.csrf_token, "signed_in": True, **context},
        status_code,
    )


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _delete_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def last_day(expires_at: datetime, zone: ZoneInfo) -> date:
    """The last day a voucher can be used: the day before its (exclusive) expiry, in ``zone``."""
    return (expires_at.astimezone(zone) - timedelta(microseconds=1)).date()


# Sign-in and sign-out


def _sign_in_page(
    request: Request, *, next_path: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    nonce = new_sign_in_nonce()
    response = render(
        request,
        "admin/sign_in.html",
        {
            "signed_in": False,
            "next": next_path,
            "error": error,
            "signed_out": request.query_params.get("signed_out") == "1",
            "csrf_token": sign_in_token(session_secret(request), nonce),
        },
        status_code,
    )
    _set_cookie(request, response, SIGN_IN_COOKIE, nonce, SIGN_IN_MAX_AGE)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> Response:
    """The sign-in form (or the dashboard, when already signed in)."""
    next_path = safe_next(request.query_params.get("next"))
    if optional_session(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _sign_in_page(request, next_path=next_path)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    """Check the admin key (rate limited per address) and start a session cookie."""
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    secret = session_secret(request)
    if not check_sign_in_token(secret, request.cookies.get(SIGN_IN_COOKIE), form.get(CSRF_FIELD)):
        return _sign_in_page(
            request,
            next_path=next_path,
            error="The sign-in form expired. Enter the key again.",
            status_code=403,
        )
    guard: Guard = request.app.state.guard
    address = client_address_of(request)
    try:
        await guard.check(address)
    except RateLimited as error:
        response = _sign_in_page(
            request,
            next_path=next_path,
            error=f"Too many failed attempts from your address; wait {error.retry_after} "
            "seconds, then try again.",
            status_code=429,
        )
        response.headers.update(error.headers())
        return response
    keys: Keys = request.app.state.keys
    presented = form.get("admin_key", "").strip() or None
    if not keys.is_admin(presented):
        # A wrong key counts like an unknown voucher code against the address's budget.
        await guard.record_failed_lookup(address)
        message = (
            "That is the redeem key: it can only redeem. Sign in with the admin key."
            if keys.is_redeemer(presented)
            else "That is not the admin key. Check it and try again."
        )
        return _sign_in_page(request, next_path=next_path, error=message, status_code=401)
    signed_in = RedirectResponse(next_path, status_code=303)
    _set_cookie(request, signed_in, SESSION_COOKIE, issue_session(secret), SESSION_MAX_AGE)
    _delete_cookie(request, signed_in, SIGN_IN_COOKIE)
    return signed_in


@router.post("/sign-out")
async def sign_out(request: Request, form: CheckedFormDep) -> Response:
    """End the session: the browser forgets its cookie."""
    response = RedirectResponse("/admin/sign-in?signed_out=1", status_code=303)
    _delete_cookie(request, response, SESSION_COOKIE)
    return response


# Dashboard


def chart_bars(daily: DailyRedemptions) -> dict[str, Any]:
    """Geometry of the dashboard's bar chart (an inline SVG, no script)."""
    width, height, gap = 600, 160, 4
    count = len(daily.days)
    bar_width = (width - gap * (count - 1)) / count if count else width
    peak = max((day.quantity for day in daily.days), default=0)
    bars = []
    for index, day in enumerate(daily.days):
        bar_height = 0.0 if peak == 0 else max(day.quantity / peak * (height - 4), 2.0)
        if day.quantity == 0:
            bar_height = 0.0
        bars.append(
            {
                "x": round(index * (bar_width + gap), 2),
                "y": round(height - bar_height, 2),
                "width": round(bar_width, 2),
                "height": round(bar_height, 2),
                "day": day.day.isoformat(),
                "quantity": day.quantity,
            }
        )
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "peak": peak,
        "total": sum(day.quantity for day in daily.days),
    }


@dataclass(frozen=True)
class DashboardSummary:
    """What the dashboard shows, and when it was read."""

    counts: dict[VoucherStatus, int]
    daily: DailyRedemptions
    low: list[VoucherRead]
    expiring: list[VoucherRead]
    read_at: datetime
    read_monotonic: float


async def dashboard_summary(
    request: Request, database: Database, *, refresh: bool
) -> DashboardSummary:
    """The dashboard's figures, read at most once a minute per process unless refreshed.

    Counting by status, and finding vouchers running low or expiring soon,
    each scan the whole vouchers table (no index serves them), which takes
    around a second on a million vouchers. Reusing a recent reading keeps
    repeated dashboard loads from repeating those scans.
    """
    cached: DashboardSummary | None = getattr(request.app.state, "console_summary", None)
    if (
        not refresh
        and cached is not None
        and time.monotonic() - cached.read_monotonic < SUMMARY_MAX_AGE
    ):
        return cached
    async with database.read() as connection:
        summary = DashboardSummary(
            counts=await voucher_service.status_counts(connection),
            daily=await redemption_service.daily_redemptions(connection, days=30),
            low=await voucher_service.running_low(connection),
            expiring=await voucher_service.expiring_soon(connection, within=EXPIRING_WITHIN),
            read_at=clock.now(),
            read_monotonic=time.monotonic(),
        )
    request.app.state.console_summary = summary
    return summary


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, session: SessionDep, database: DatabaseDep) -> HTMLResponse:
    """Counts by status, redemptions per day, and vouchers needing attention."""
    refresh = request.query_params.get("refresh") == "1"
    summary = await dashboard_summary(request, database, refresh=refresh)
    return _console(
        request,
        session,
        "admin/dashboard.html",
        {
            "counts": [(status.value, summary.counts[status]) for status in VoucherStatus],
            "total": sum(summary.counts.values()),
            "chart": chart_bars(summary.daily),
            "truncated": summary.daily.truncated,
            "low": summary.low,
            "expiring": summary.expiring,
            "read_at": summary.read_at,
        },
    )


# Voucher list


@router.get("/vouchers", response_class=HTMLResponse)
async def voucher_list(
    request: Request, session: SessionDep, database: DatabaseDep
) -> HTMLResponse:
    """Vouchers, newest first: search by code prefix, filter by status, page by cursor."""
    params = request.query_params
    prefix = params.get("prefix", "").strip()[:64]
    status_text = params.get("status", "")
    cursor = params.get("cursor") or None
    error = None
    status = None
    if status_text:
        try:
            status = VoucherStatus(status_text)
        except ValueError:
            error = "Unknown status; showing every status."
            status_text = ""
    prefix_ok = not prefix or re.fullmatch(r"[A-Za-z0-9_-]+", prefix) is not None
    if not prefix_ok:
        error = "A code has only letters, digits, '-' and '_'; no voucher starts with that."
    items: list[VoucherRead] = []
    next_cursor = None
    if prefix_ok:
        try:
            async with database.read() as connection:
                page = await voucher_service.list_vouchers(
                    connection,
                    status=status,
                    batch_id=None,
                    prefix=prefix or None,
                    limit=PAGE_SIZE,
                    cursor=cursor if cursor and len(cursor) <= 200 else None,
                )
            items, next_cursor = page.items, page.next_cursor
        except ValidationFailed:
            error = "That page link is no longer valid; showing nothing. Start from the first page."
    return _console(
        request,
        session,
        "admin/vouchers.html",
        {
            "items": items,
            "next_cursor": next_cursor,
            "prefix": prefix,
            "status": status_text,
            "statuses": [s.value for s in VoucherStatus],
            "paged": cursor is not None,
            "error": error,
        },
    )


# New voucher


@router.get("/new-voucher", response_class=HTMLResponse)
async def new_voucher_page(request: Request, session: SessionDep) -> HTMLResponse:
    """The form that creates one voucher."""
    return _new_voucher(request, session, {}, {})


def _new_voucher(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: FieldErrors,
    status_code: int = 200,
) -> HTMLResponse:
    return _console(
        request,
        session,
        "admin/new_voucher.html",
        {"values": values, "errors": errors, "form_id": secrets.token_urlsafe(24)},
        status_code,
    )


@router.post("/new-voucher", response_class=HTMLResponse)
async def create_voucher(
    request: Request,
    session: SessionDep,
    form: CheckedFormDep,
    database: DatabaseDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> Response:
    """Create a voucher and show it; errors are shown beside their fields."""
    fields = ("code", "max_redemptions", "expires_at", "starts_at", "per_customer_limit")
    values = {name: form.get(name, "").strip()[:100] for name in fields}
    errors: FieldErrors = {}
    body: dict[str, Any] = {}
    code = optional_text(form, "code")
    if code is not None:
        try:
            body["code"] = clean_code(code)
        except ValueError:
            errors["code"] = "Use 1-64 letters, digits, '-' or '_', or leave it blank."
    max_redemptions = parse_count(form, "max_redemptions", errors, required=True)
    if max_redemptions is not None:
        body["max_redemptions"] = max_redemptions
    per_customer = parse_count(form, "per_customer_limit", errors, required=False)
    if per_customer is not None:
        body["per_customer_limit"] = per_customer
    expires_at = optional_text(form, "expires_at")
    if expires_at is None:
        errors["expires_at"] = "Choose the last day the voucher can be used."
    else:
        body["expires_at"] = expires_at
    starts_at = optional_text(form, "starts_at")
    if starts_at is not None:
        body["starts_at"] = starts_at
    model = None
    if not errors:
        try:
            model = VoucherCreate.model_validate(body)
        except ValidationError as error:
            errors.update(pydantic_errors(error))
    if model is None:
        return _new_voucher(request, session, values, errors, 422)

    claim = None
    form_id = form.get("form_id", "")
    if FORM_ID.fullmatch(form_id):
        claim = IdempotencyClaim("web-create:" + form_id, fingerprint("POST", "/v1/vouchers", body))

    async def effect(connection: AsyncConnection) -> Answer:
        voucher = await voucher_service.create_voucher(connection, model, settings.zone)
        return Answer(201, voucher.model_dump_json().encode())

    try:
        async with database.transaction() as connection:
            answer = await run_idempotent(connection, claim, request_id, clock.now(), effect)
    except ValidationFailed as error:
        return _new_voucher(request, session, values, service_errors(error), 422)
    except CodeTaken as error:
        answer = Answer(error.status, json.dumps(error.body(request_id)).encode())
    payload = json.loads(answer.body)
    if answer.status == 201:
        return RedirectResponse(
            f"/admin/vouchers/{payload['code']}?notice=created", status_code=303
        )
    if payload.get("code") == "code_taken":
        errors["code"] = (
            "A voucher with this code already exists. Choose another, "
            "or leave it blank to have one generated."
        )
    else:
        errors["form"] = str(payload.get("detail", "The voucher could not be created."))
    return _new_voucher(request, session, values, errors, answer.status)


# Voucher detail and its actions


def _clean_path_code(code: str) -> str | None:
    code = code.strip()
    return code if CODE_PATTERN.fullmatch(code) else None


async def _detail(
    request: Request,
    session: Session,
    database: DatabaseDep,
    code: str,
    *,
    errors: FieldErrors | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    clean = _clean_path_code(code)
    cursor = request.query_params.get("cursor") or None
    try:
        if clean is None:
            raise VoucherNotFound("bad code")
        async with database.read() as connection:
            voucher = await voucher_service.get_voucher(connection, clean)
            try:
                ledger = await redemption_service.list_redemptions(
                    connection, clean, limit=PAGE_SIZE, cursor=cursor
                )
            except ValidationFailed:
                ledger = await redemption_service.list_redemptions(
                    connection, clean, limit=PAGE_SIZE, cursor=None
                )
    except VoucherNotFound:
        return _console(
            request,
            session,
            "error.html",
            {
                "title": "No such voucher",
                "message": f"No voucher has the code {code[:64]}.",
                "advice": "Search for it in the voucher list.",
                "back": "/admin/vouchers",
            },
            404,
        )
    notice = NOTICES.get(request.query_params.get("notice", ""))
    settings: Settings = request.app.state.settings
    return _console(
        request,
        session,
        "admin/voucher.html",
        {
            "voucher": voucher,
            "ledger": ledger.items,
            "next_cursor": ledger.next_cursor,
            "paged": cursor is not None,
            "notice": notice,
            "errors": errors or {},
            "values": values
            or {
                "expires_at": last_day(voucher.expires_at, settings.zone).isoformat(),
                "max_redemptions": str(voucher.max_redemptions),
            },
        },
        status_code,
    )


@router.get("/vouchers/{code}", response_class=HTMLResponse)
async def voucher_detail(
    request: Request, code: str, session: SessionDep, database: DatabaseDep
) -> HTMLResponse:
    """One voucher, its ledger, and its actions."""
    return await _detail(request, session, database, code)


async def _update(
    request: Request,
    session: Session,
    database: DatabaseDep,
    settings: Settings,
    code: str,
    changes: dict[str, Any],
    notice: str,
    field: str,
    values: dict[str, str],
) -> Response:
    clean = _clean_path_code(code)
    if clean is None:
        return await _detail(request, session, database, code)
    try:
        update = VoucherUpdate.model_validate(changes)
    except ValidationError as error:
        found = pydantic_errors(error)
        message = next(iter(found.values()), "Check this value.")
        return await _detail(
            request,
            session,
            database,
            clean,
            errors={field: message},
            values=values,
            status_code=422,
        )
    try:
        async with database.transaction() as connection:
            voucher = await voucher_service.update_voucher(connection, clean, update, settings.zone)
    except ValidationFailed as error:
        message = next(iter(service_errors(error).values()), "Check this value.")
        return await _detail(
            request,
            session,
            database,
            clean,
            errors={field: message},
            values=values,
            status_code=422,
        )
    except LimitBelowRedeemed as error:
        redeemed = error.extra.get("redeemed", 0)
        return await _detail(
            request,
            session,
            database,
            clean,
            errors={field: f"{redeemed:,} are already redeemed; the limit cannot be lower."},
            values=values,
            status_code=409,
        )
    except VoucherNotFound:
        return await _detail(request, session, database, clean)
    return RedirectResponse(f"/admin/vouchers/{voucher.code}?notice={notice}", status_code=303)


@router.post("/vouchers/{code}/disable")
async def disable_voucher(
    request: Request,
    code: str,
    session: SessionDep,
    form: CheckedFormDep,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Disable a voucher: it cannot be redeemed until enabled again."""
    return await _update(
        request, session, database, settings, code, {"disabled": True}, "disabled", "disabled", {}
    )


@router.post("/vouchers/{code}/enable")
async def enable_voucher(
    request: Request,
    code: str,
    session: SessionDep,
    form: CheckedFormDep,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Enable a disabled voucher."""
    return await _update(
        request, session, database, settings, code, {"disabled": False}, "enabled", "disabled", {}
    )


@router.post("/vouchers/{code}/expiry")
async def change_expiry(
    request: Request,
    code: str,
    session: SessionDep,
    form: CheckedFormDep,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Extend (or shorten) a voucher's expiry to the end of a chosen day."""
    expires_at = optional_text(form, "expires_at")
    values = {"expires_at": (expires_at or "")[:40]}
    if expires_at is None:
        return await _detail(
            request,
            session,
            database,
            code,
            errors={"expires_at": "Choose the last day the voucher can be used."},
            values=values,
            status_code=422,
        )
    return await _update(
        request,
        session,
        database,
        settings,
        code,
        {"expires_at": expires_at},
        "expiry",
        "expires_at",
        values,
    )


@router.post("/vouchers/{code}/limit")
async def change_limit(
    request: Request,
    code: str,
    session: SessionDep,
    form: CheckedFormDep,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Raise (or lower, down to the redeemed count) a voucher's max redemptions."""
    errors: FieldErrors = {}
    limit = parse_count(form, "max_redemptions", errors, required=True)
    values = {"max_redemptions": form.get("max_redemptions", "")[:20]}
    if limit is None:
        return await _detail(
            request, session, database, code, errors=errors, values=values, status_code=422
        )
    return await _update(
        request,
        session,
        database,
        settings,
        code,
        {"max_redemptions": limit},
        "limit",
        "max_redemptions",
        values,
    )


@router.post("/redemptions/{redemption_id}/reverse")
async def reverse_redemption(
    request: Request,
    redemption_id: str,
    session: SessionDep,
    form: CheckedFormDep,
    database: DatabaseDep,
) -> Response:
    """Reverse a redemption (a refund); reversing it again changes nothing."""
    try:
        if not REDEMPTION_ID.fullmatch(redemption_id):
            raise RedemptionNotFound("bad id")
        async with database.transaction() as connection:
            redemption = await redemption_service.reverse(connection, redemption_id)
    except RedemptionNotFound:
        return _console(
            request,
            session,
            "error.html",
            {
                "title": "No such redemption",
                "message": "That redemption does not exist. Nothing was changed.",
                "advice": "Open the voucher again and pick the redemption from its ledger.",
                "back": "/admin/vouchers",
            },
            404,
        )
    return RedirectResponse(
        f"/admin/vouchers/{redemption.code}?notice=reversed#ledger", status_code=303
    )


# New batch (the page; its API pass-through lives in vouchers.web.batches)


@router.get("/new-batch", response_class=HTMLResponse)
async def new_batch_page(request: Request, session: SessionDep) -> HTMLResponse:
    """The form that generates a batch of codes, with live progress and a CSV download."""
    return _console(request, session, "admin/new_batch.html", {})
