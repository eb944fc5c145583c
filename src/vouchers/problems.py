"""Exception handlers that render every failure as problem+json, and the /problems pages."""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vouchers.db import is_unavailable
from vouchers.errors import (
    ERRORS_BY_CODE,
    PROBLEM_CONTENT_TYPE,
    InternalError,
    MalformedRequest,
    ServiceError,
    ServiceUnavailable,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

LOCATIONS_TO_DROP = {"body", "path", "query", "header"}
HTTP_ERROR_CODES = {404: "route_not_found", 405: "method_not_allowed", 413: "request_too_large"}


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "req_unknown"))


def problem_response(error: ServiceError, request: Request) -> JSONResponse:
    """Render a domain error."""
    request_id = _request_id(request)
    return JSONResponse(
        error.body(request_id),
        status_code=error.status,
        media_type=PROBLEM_CONTENT_TYPE,
        # Also set here, not only by RequestContextMiddleware: Starlette sends the
        # catch-all 500 from its outermost layer, outside that middleware.
        headers={**error.headers(), "X-Request-ID": request_id},
    )


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in LOCATIONS_TO_DROP:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_problem(error: RequestValidationError) -> ServiceError:
    """A 400 for unparseable JSON, else a 422 listing each wrong field."""
    problems = list(error.errors())
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return MalformedRequest("The request body is not valid JSON.")
    fields = [
        {"field": _field_name(tuple(problem.get("loc", ()))), "message": _message(problem)}
        for problem in problems
    ]
    return ValidationFailed(fields)


def _message(problem: Any) -> str:
    if isinstance(problem.get("input"), bytes):
        return "send the body as a JSON object with 'Content-Type: application/json'"
    return str(problem.get("msg", "invalid")).removeprefix("Value error, ")


async def _on_service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    return problem_response(error, request)


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return problem_response(validation_problem(error), request)


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:
        # FastAPI could not read the body at all (e.g. bytes that are not UTF-8).
        return problem_response(MalformedRequest("The request body is not valid JSON."), request)
    code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
    body = {
        "type": f"/problems/{code}",
        "title": str(error.detail),
        "status": error.status_code,
        "detail": str(error.detail),
        "code": code,
        "request_id": _request_id(request),
    }
    return JSONResponse(
        body,
        status_code=error.status_code,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=getattr(error, "headers", None),
    )


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    return unexpected_error_response(error, request)


def unexpected_error_response(error: Exception, request: Request) -> JSONResponse:
    """A 503 for a database that cannot be reached, else a logged 500 (a bug)."""
    if is_unavailable(error):
        logger.warning(
            "database unavailable (request %s): %s", _request_id(request), type(error).__name__
        )
        return problem_response(
            ServiceUnavailable("The database cannot be reached; nothing was changed. Retry."),
            request,
        )
    logger.exception("unhandled error (request %s)", _request_id(request))
    return problem_response(
        InternalError(f"Something went wrong; quote request id {_request_id(request)}."), request
    )


def install_handlers(app: FastAPI) -> None:
    """Route every kind of failure to its problem+json rendering."""
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    # Database and network failures are handled like domain errors (answered, not
    # re-raised), so the connection stays usable; anything else is a bug.
    for failure in (SQLAlchemyError, OSError, TimeoutError):
        app.add_exception_handler(failure, _on_unexpected)
    app.add_exception_handler(Exception, _on_unexpected)

    @app.get("/problems/{code}", response_class=HTMLResponse, include_in_schema=False)
    async def problem_page(code: str) -> HTMLResponse:
        """A page explaining one error code and what to do about it."""
        error = ERRORS_BY_CODE.get(code)
        if error is None:
            return HTMLResponse("<h1>Unknown problem</h1>", status_code=404)
        title = html.escape(error.title)
        return HTMLResponse(
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{title}</title></head><body><h1>{title}</h1>"
            f"<p>HTTP status {error.status}, code <code>{html.escape(error.code)}</code>.</p>"
            f"<p>{html.escape(error.advice)}</p></body></html>"
        )
