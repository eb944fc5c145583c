"""ASGI middleware: request ids on every response, and the request body size limit."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vouchers.logs import ACCESS_LOGGER, current_request_id
from vouchers.metrics import HTTP_LATENCY, HTTP_REQUESTS

access_log = logging.getLogger(ACCESS_LOGGER)

CLIENT_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class RequestContextMiddleware:
    """Give every request an id (the client's own when sane) and refuse oversized bodies.

    One plain ASGI layer instead of several: it runs on every request, the hot
    redemption path included.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Attach the id to the scope and to the response headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        declared_length = 0
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if CLIENT_REQUEST_ID.fullmatch(candidate):
                    request_id = candidate
            elif name == b"content-length" and value.isdigit():
                declared_length = int(value)
        if request_id is None:
            request_id = "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = request_id
        current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self._handle(scope, receive, send_with_id, request_id, declared_length)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, declared_length: int
    ) -> None:
        """Pass the request on, refusing bodies over the limit (declared or streamed)."""
        if declared_length > self.max_body_bytes:
            await self._too_large(request_id, send)
            return
        received = 0
        too_large = False
        started = False

        async def receive_limited() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def send_unless_too_large(message: Message) -> None:
            nonlocal started
            # Inner layers turn BodyTooLarge into their own answer (a 400 from
            # FastAPI's body parsing, a 500 from the redeem shortcut): drop it.
            if too_large and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_limited, send_unless_too_large)
        except Exception:
            if not too_large or started:
                raise
        if too_large and not started:
            await self._too_large(request_id, send)

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        """Count the request by route template (never the raw path, which holds codes)."""
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        HTTP_REQUESTS.labels(method, template, str(status)).inc()
        HTTP_LATENCY.labels(method, template).observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("%s %s %d %.1fms", method, template, status, seconds * 1000)

    async def _too_large(self, request_id: str, send: Send) -> None:
        body = json.dumps(
            {
                "type": "/problems/request_too_large",
                "title": "Request too large",
                "status": 413,
                "detail": f"Request bodies are limited to {self.max_body_bytes} bytes.",
                "code": "request_too_large",
                "request_id": request_id,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """A streamed body went past the limit."""
