"""The hot path's shortcut: POST /v1/vouchers/{code}/redemptions without the router.

FastAPI's routing (matching the request against every route, the console's
included, then solving the endpoint's parameters) cost more CPU per
redemption than the redemption itself (see benchmarks/RESULTS.md). This ASGI
layer recognises the one hot route by its path and calls the same endpoint
function, ``router.redeem``, with the same checks and the same answers. The
route stays registered with FastAPI, so the OpenAPI schema and /docs are
unchanged, and every other request passes through untouched.

It sits inside ``RequestContextMiddleware``, so request ids, the body size
limit, metrics and access logs apply exactly as on routed requests.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from vouchers.errors import ServiceError
from vouchers.middleware import BodyTooLarge
from vouchers.problems import problem_response, unexpected_error_response
from vouchers.redemptions.router import redeem, redeem_router

REDEEM_TEMPLATE = "/v1/vouchers/{code}/redemptions"
# The same segment FastAPI's `{code}` matches: anything but a slash (the path is decoded).
REDEEM_PATH = re.compile(r"/v1/vouchers/([^/]+)/redemptions")


def find_redeem_route() -> APIRoute:
    """The redeem route as registered (its template names it in metrics and logs)."""
    for route in redeem_router.routes:
        if (
            isinstance(route, APIRoute)
            and route.path == REDEEM_TEMPLATE
            and "POST" in (route.methods or set())
        ):
            return route
    raise LookupError(f"no POST {REDEEM_TEMPLATE} route is registered")


class RedeemShortcut:
    """Send redemption requests straight to their endpoint; pass everything else on."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.route = find_redeem_route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer POST /v1/vouchers/{code}/redemptions here; anything else goes to the router."""
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = REDEEM_PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        code = match.group(1)
        scope["app"] = self.fastapi_app
        scope["route"] = self.route
        scope["path_params"] = {"code": code}
        request = Request(scope, receive, send)
        try:
            response = await redeem(code, request)
        except ServiceError as error:
            response = problem_response(error, request)
        except BodyTooLarge:
            raise  # RequestContextMiddleware answers 413; not an unexpected error
        except Exception as error:  # the router's catch-all handler, answered the same way
            response = unexpected_error_response(error, request)
        await response(scope, receive, send)
