"""The console's pass-through to the batch API (POST /v1/batches and friends).

On purpose thin. The browser cannot hold the admin key (it lives in the
server; the session cookie is HttpOnly), so the "New batch" page talks to these
same-origin console routes, which check the session (and the CSRF token on
POST) and then call the batch HTTP API *inside this process*, as an ASGI
sub-request carrying the admin key. Nothing leaves the process, and the console
depends only on the contract in API.md, not on the batch service's Python
interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Message

from vouchers.auth import Keys
from vouchers.errors import (
    BatchNotFound,
    Forbidden,
    InternalError,
    RequestTooLarge,
    Unauthorized,
)
from vouchers.problems import problem_response
from vouchers.web.auth import CSRF_HEADER, SignInRequired, optional_session
from vouchers.web.session import Session, check_csrf

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/admin/batches", include_in_schema=False)

BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_BODY = 16 * 1024
FORWARDED_HEADERS = ("content-type", "retry-after", "location", "idempotent-replayed")
_DONE: Message = {"type": "vouchers.web.done"}


def _session_or_401(request: Request) -> Session | JSONResponse:
    session = optional_session(request)
    if session is None:
        return problem_response(Unauthorized("Signed out: sign in to the console again."), request)
    return session


async def call_api(
    request: Request,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Response:
    """Send a request to this app's own API in process, with the admin key; stream the answer."""
    keys: Keys = request.app.state.keys
    all_headers = {
        "authorization": f"Bearer {keys.admin}",
        "x-request-id": str(request.scope.get("state", {}).get("request_id", "")),
        **{name.lower(): value for name, value in (headers or {}).items()},
    }
    if body:
        all_headers["content-type"] = "application/json"
        all_headers["content-length"] = str(len(body))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": request.url.scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in all_headers.items()],
        "client": request.scope.get("client"),
        "server": request.scope.get("server"),
        "state": dict(request.scope.get("state", {})),
    }
    messages: asyncio.Queue[Message] = asyncio.Queue(maxsize=16)
    finished = asyncio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        await messages.put(message)

    async def run() -> None:
        try:
            await request.app(scope, receive, send)
        except Exception:
            logger.exception("console pass-through to %s %s failed", method, path)
        finally:
            await messages.put(_DONE)

    task = asyncio.create_task(run())
    start = await messages.get()
    if start["type"] != "http.response.start":
        finished.set()
        await task
        return problem_response(InternalError("The batch API gave no answer; retry."), request)
    forwarded = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in start.get("headers", [])
        if name.decode("latin-1").lower() in FORWARDED_HEADERS
    }

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                message = await messages.get()
                if message["type"] != "http.response.body":
                    break
                chunk: bytes = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    break
        finally:
            finished.set()
            if not task.done():
                # The browser went away mid-stream: stop producing, then reap the task.
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return StreamingResponse(chunks(), status_code=int(start["status"]), headers=forwarded)


@router.post("")
async def create_batch(request: Request) -> Response:
    """Start a batch: the page's JSON goes to POST /v1/batches (CSRF token in a header)."""
    session = _session_or_401(request)
    if isinstance(session, JSONResponse):
        return session
    if not check_csrf(session, request.headers.get(CSRF_HEADER)):
        return problem_response(
            Forbidden("The form expired: reload the page and try again."), request
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        return problem_response(RequestTooLarge("The form is too large."), request)
    headers = {}
    key = request.headers.get("Idempotency-Key", "")
    if IDEMPOTENCY_KEY.fullmatch(key):
        headers["Idempotency-Key"] = "web-batch:" + key
    return await call_api(request, "POST", "/v1/batches", body, headers)


@router.get("/{batch_id}")
async def batch_status(request: Request, batch_id: str) -> Response:
    """A batch's progress, from GET /v1/batches/{id}."""
    session = _session_or_401(request)
    if isinstance(session, JSONResponse):
        return session
    if not BATCH_ID.fullmatch(batch_id):
        return problem_response(BatchNotFound("No batch has that id."), request)
    return await call_api(request, "GET", f"/v1/batches/{quote(batch_id)}")


@router.get("/{batch_id}/codes.csv")
async def batch_codes(request: Request, batch_id: str) -> Response:
    """A batch's codes as a CSV download, streamed from GET /v1/batches/{id}/codes."""
    if optional_session(request) is None:
        # A download is a browser navigation: signed out, go to sign-in and come back.
        raise SignInRequired(request.url.path)
    if not BATCH_ID.fullmatch(batch_id):
        return problem_response(BatchNotFound("No batch has that id."), request)
    response = await call_api(request, "GET", f"/v1/batches/{quote(batch_id)}/codes")
    if response.status_code == 200:
        response.headers["Content-Disposition"] = f'attachment; filename="batch-{batch_id}.csv"'
    return response
