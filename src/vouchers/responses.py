"""Turning engine answers and errors into HTTP responses."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from vouchers.errors import PROBLEM_CONTENT_TYPE, ServiceError
from vouchers.redemptions.idempotency import Answer

REPLAYED_HEADER = "Idempotent-Replayed"


def answer_response(answer: Answer, headers: dict[str, str] | None = None) -> Response:
    """The HTTP response for an answer, marking replays."""
    all_headers = dict(headers or {})
    if answer.replayed:
        all_headers[REPLAYED_HEADER] = "true"
    if answer.error is not None:
        all_headers.update(answer.error.headers())
    media_type = PROBLEM_CONTENT_TYPE if answer.status >= 400 else "application/json"
    if answer.status == 204:
        return Response(status_code=204, headers=all_headers)
    return Response(
        answer.body, status_code=answer.status, media_type=media_type, headers=all_headers
    )


def error_responses(*errors: type[ServiceError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the problem responses a route can give."""
    documented: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = documented.setdefault(
            error.status,
            {
                "description": "",
                "content": {
                    PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        )
        codes = [code for code in entry["description"].split(", ") if code]
        entry["description"] = ", ".join([*codes, error.code])
    return documented
