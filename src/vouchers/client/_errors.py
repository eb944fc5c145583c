"""Every error the client raises.

Branch on the class (or on ``ApiError.code``); the tree mirrors the error-code
table of the HTTP contract, plus the failures that never reached the service:

    VouchersError
    ├── TransportError                    no HTTP answer came back
    │   ├── ConnectError                  could not connect; nothing was sent
    │   │   └── ConnectTimeout            the connection was not set up in time
    │   ├── ReadError                     the connection broke after sending: outcome unknown
    │   └── ReadTimeout                   no answer in time: outcome unknown
    ├── ApiError                          the service answered with an error (.status .code .detail)
    │   ├── MalformedRequest              400 malformed_request
    │   ├── Unauthorized                  401 unauthorized
    │   ├── Forbidden                     403 forbidden
    │   ├── NotFound                      404 (any other code, e.g. route_not_found)
    │   │   ├── VoucherNotFound           404 voucher_not_found
    │   │   ├── RedemptionNotFound        404 redemption_not_found
    │   │   └── BatchNotFound             404 batch_not_found
    │   ├── Conflict                      409 (any other code)
    │   │   ├── CodeTaken                 409 code_taken
    │   │   ├── VoucherExpired            409 voucher_expired
    │   │   ├── VoucherNotStarted         409 voucher_not_started
    │   │   ├── VoucherDisabled           409 voucher_disabled
    │   │   ├── VoucherExhausted          409 voucher_exhausted
    │   │   ├── InsufficientRedemptions   409 insufficient_redemptions (.remaining)
    │   │   ├── CustomerLimitReached      409 customer_limit_reached (.customer_remaining)
    │   │   ├── LimitBelowRedeemed        409 limit_below_redeemed
    │   │   ├── VoucherHasRedemptions     409 voucher_has_redemptions
    │   │   └── IdempotencyInProgress     409 idempotency_in_progress
    │   ├── UnprocessableEntity           422 (any other code)
    │   │   ├── ValidationError           422 validation_error (.errors)
    │   │   ├── IdempotencyKeyReused      422 idempotency_key_reused
    │   │   └── KeyspaceTooSmall          422 keyspace_too_small
    │   ├── RateLimited                   429 rate_limited (.retry_after)
    │   ├── InternalError                 500 internal_error
    │   └── ServiceUnavailable            503 service_unavailable (.retry_after)
    ├── DecodingError                     a success answer was not the JSON the contract describes
    ├── BatchFailed                       wait_for_batch: the batch ended in "failed"
    └── WaitTimeout                       wait_for_batch: the batch did not finish in time

An error code this client does not know becomes the class of its status
(``NotFound``, ``Conflict``, ...), or ``ApiError`` itself for other statuses.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import requests

__all__ = [
    "ApiError",
    "BatchFailed",
    "BatchNotFound",
    "CodeTaken",
    "Conflict",
    "ConnectError",
    "ConnectTimeout",
    "CustomerLimitReached",
    "DecodingError",
    "Forbidden",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "InsufficientRedemptions",
    "InternalError",
    "KeyspaceTooSmall",
    "LimitBelowRedeemed",
    "MalformedRequest",
    "NotFound",
    "RateLimited",
    "ReadError",
    "ReadTimeout",
    "RedemptionNotFound",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "UnprocessableEntity",
    "ValidationError",
    "VoucherDisabled",
    "VoucherExhausted",
    "VoucherExpired",
    "VoucherHasRedemptions",
    "VoucherNotFound",
    "VoucherNotStarted",
    "VouchersError",
    "WaitTimeout",
]


class VouchersError(Exception):
    """Base of every error the client raises."""


class TransportError(VouchersError):
    """The request got no HTTP answer (connection refused, dropped or timed out)."""


class ConnectError(TransportError):
    """The connection could not be made; the request was not sent."""


class ConnectTimeout(ConnectError):
    """The connection was not set up within the timeout; the request was not sent."""


class ReadError(TransportError):
    """The connection broke after the request was sent; it may or may not have taken effect."""


class ReadTimeout(TransportError):
    """No answer came within the timeout; the request may or may not have taken effect."""


class ApiError(VouchersError):
    """The service answered with an error (problem+json); branch on ``code``."""

    default_status: ClassVar[int] = 0
    default_code: ClassVar[str] = "http_error"

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body: dict[str, Any] = body if body is not None else {}
        self.request_id = request_id
        self.headers: dict[str, str] = headers if headers is not None else {}


class MalformedRequest(ApiError):
    """400 malformed_request: the body was not valid JSON."""

    default_status = 400
    default_code = "malformed_request"


class Unauthorized(ApiError):
    """401 unauthorized: the route needs a (valid) key."""

    default_status = 401
    default_code = "unauthorized"


class Forbidden(ApiError):
    """403 forbidden: this key may not use this route."""

    default_status = 403
    default_code = "forbidden"


class NotFound(ApiError):
    """404: something was not found."""

    default_status = 404


class VoucherNotFound(NotFound):
    """404 voucher_not_found."""

    default_code = "voucher_not_found"


class RedemptionNotFound(NotFound):
    """404 redemption_not_found."""

    default_code = "redemption_not_found"


class BatchNotFound(NotFound):
    """404 batch_not_found."""

    default_code = "batch_not_found"


class Conflict(ApiError):
    """409: the request conflicts with the current state."""

    default_status = 409


class CodeTaken(Conflict):
    """409 code_taken: a voucher with this code exists."""

    default_code = "code_taken"


class VoucherExpired(Conflict):
    """409 voucher_expired."""

    default_code = "voucher_expired"


class VoucherNotStarted(Conflict):
    """409 voucher_not_started."""

    default_code = "voucher_not_started"


class VoucherDisabled(Conflict):
    """409 voucher_disabled."""

    default_code = "voucher_disabled"


class VoucherExhausted(Conflict):
    """409 voucher_exhausted: nothing remains."""

    default_code = "voucher_exhausted"


class InsufficientRedemptions(Conflict):
    """409 insufficient_redemptions: fewer remain than asked for (see ``remaining``)."""

    default_code = "insufficient_redemptions"

    @property
    def remaining(self) -> int | None:
        """How many redemptions remain."""
        value = self.body.get("remaining")
        return value if isinstance(value, int) else None


class CustomerLimitReached(Conflict):
    """409 customer_limit_reached (see ``customer_remaining``)."""

    default_code = "customer_limit_reached"

    @property
    def customer_remaining(self) -> int | None:
        """How many redemptions this customer has left."""
        value = self.body.get("customer_remaining")
        return value if isinstance(value, int) else None


class LimitBelowRedeemed(Conflict):
    """409 limit_below_redeemed."""

    default_code = "limit_below_redeemed"


class VoucherHasRedemptions(Conflict):
    """409 voucher_has_redemptions: disable the voucher instead of deleting it."""

    default_code = "voucher_has_redemptions"


class IdempotencyInProgress(Conflict):
    """409 idempotency_in_progress: a request with this key is still running."""

    default_code = "idempotency_in_progress"


class UnprocessableEntity(ApiError):
    """422: the request was understood but refused."""

    default_status = 422


class ValidationError(UnprocessableEntity):
    """422 validation_error: fields are wrong (see ``errors``)."""

    default_code = "validation_error"

    @property
    def errors(self) -> list[dict[str, str]]:
        """The wrong fields: ``[{"field": ..., "message": ...}]``."""
        value = self.body.get("errors")
        return [dict(item) for item in value if isinstance(item, dict)] if value else []


class IdempotencyKeyReused(UnprocessableEntity):
    """422 idempotency_key_reused: the key was used for a different request."""

    default_code = "idempotency_key_reused"


class KeyspaceTooSmall(UnprocessableEntity):
    """422 keyspace_too_small: longer codes, a larger alphabet, or fewer codes."""

    default_code = "keyspace_too_small"


def _retry_after(headers: dict[str, str]) -> float | None:
    raw = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


class RateLimited(ApiError):
    """429 rate_limited: wait ``retry_after`` seconds."""

    default_status = 429
    default_code = "rate_limited"

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait, from the Retry-After header."""
        return _retry_after(self.headers)


class InternalError(ApiError):
    """500 internal_error: a bug in the service; quote ``request_id``."""

    default_status = 500
    default_code = "internal_error"


class ServiceUnavailable(ApiError):
    """503 service_unavailable: nothing was changed; retry after ``retry_after`` seconds."""

    default_status = 503
    default_code = "service_unavailable"

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait, from the Retry-After header."""
        return _retry_after(self.headers)


class DecodingError(VouchersError):
    """A success answer was not the JSON the contract describes (a proxy page, a wrong URL)."""


class BatchFailed(VouchersError):
    """A batch ended with status "failed"."""

    def __init__(self, batch_id: str, error: str | None) -> None:
        super().__init__(f"batch {batch_id} failed: {error or 'no reason given'}")
        self.batch_id = batch_id
        self.error = error


class WaitTimeout(VouchersError):
    """A batch did not finish within the time given to wait for it."""


def _leaf_classes() -> dict[str, type[ApiError]]:
    found: dict[str, type[ApiError]] = {}
    pending: list[type[ApiError]] = [ApiError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "default_code" in cls.__dict__:
            found[cls.default_code] = cls
    return found


ERRORS_BY_CODE: dict[str, type[ApiError]] = _leaf_classes()
ERRORS_BY_STATUS: dict[int, type[ApiError]] = {
    cls.default_status: cls
    for cls in (
        MalformedRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        UnprocessableEntity,
        RateLimited,
        InternalError,
        ServiceUnavailable,
    )
}


def error_from_response(response: requests.Response) -> ApiError:
    """The ApiError subclass for an error response (problem+json or not)."""
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    except (ValueError, json.JSONDecodeError):
        body = {}
    status = response.status_code
    raw_code = body.get("code")
    code = raw_code if isinstance(raw_code, str) and raw_code else None
    cls = ERRORS_BY_CODE.get(code or "")
    if cls is None or cls.default_status != status:
        cls = ERRORS_BY_STATUS.get(status, ApiError)
    detail = body.get("detail")
    if not isinstance(detail, str) or not detail:
        detail = response.reason or f"HTTP {status}"
    request_id = body.get("request_id") or response.headers.get("X-Request-ID")
    return cls(
        status,
        code or cls.default_code,
        detail,
        body=body,
        request_id=str(request_id) if request_id else None,
        headers=dict(response.headers),
    )
