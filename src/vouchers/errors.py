"""Domain errors and their problem+json rendering.

Every error the service returns is a ``ServiceError`` subclass. Each class
carries its HTTP status, its stable ``code`` and a title; the table of codes
lives here once and also feeds the ``/problems/<code>`` pages.

    ServiceError
    ├── MalformedRequest          400 malformed_request
    ├── Unauthorized              401 unauthorized
    ├── Forbidden                 403 forbidden
    ├── NotFound
    │   ├── VoucherNotFound       404 voucher_not_found
    │   ├── RedemptionNotFound    404 redemption_not_found
    │   ├── BatchNotFound         404 batch_not_found
    │   └── RouteNotFound         404 route_not_found
    ├── Conflict
    │   ├── CodeTaken             409 code_taken
    │   ├── VoucherExpired        409 voucher_expired
    │   ├── VoucherNotStarted     409 voucher_not_started
    │   ├── VoucherDisabled       409 voucher_disabled
    │   ├── VoucherExhausted      409 voucher_exhausted
    │   ├── InsufficientRedemptions 409 insufficient_redemptions
    │   ├── CustomerLimitReached  409 customer_limit_reached
    │   ├── LimitBelowRedeemed    409 limit_below_redeemed
    │   ├── VoucherHasRedemptions 409 voucher_has_redemptions
    │   └── IdempotencyInProgress 409 idempotency_in_progress
    ├── MethodNotAllowed          405 method_not_allowed
    ├── RequestTooLarge           413 request_too_large
    ├── ValidationFailed          422 validation_error
    ├── IdempotencyKeyReused      422 idempotency_key_reused
    ├── KeyspaceTooSmall          422 keyspace_too_small
    ├── RateLimited               429 rate_limited
    ├── ServiceUnavailable        503 service_unavailable
    └── InternalError             500 internal_error
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ServiceError(Exception):
    """Base of every error the service answers with; rendered as problem+json."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    advice: ClassVar[str] = "This is a bug. Retry later and report the request id."

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs."""
        return {}

    def body(self, request_id: str) -> dict[str, Any]:
        """The problem+json document for this error."""
        document: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "request_id": request_id,
        }
        document.update(self.extra)
        return document


class MalformedRequest(ServiceError):
    status = 400
    code = "malformed_request"
    title = "Malformed request"
    advice = "Send a valid JSON object as the request body."


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"
    advice = "Send the key in an 'Authorization: Bearer <key>' header."

    def headers(self) -> dict[str, str]:
        """Ask for a bearer token."""
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"
    title = "Forbidden"
    advice = "This key may only redeem and validate; use the admin key for this route."


class NotFound(ServiceError):
    status = 404


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    title = "Voucher not found"
    advice = "Check the code for typos. Codes ignore case and surrounding spaces."


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    title = "Redemption not found"
    advice = "Check the redemption id; list a voucher's redemptions to find it."


class BatchNotFound(NotFound):
    code = "batch_not_found"
    title = "Batch not found"
    advice = "Check the batch id returned when the batch was created."


class RouteNotFound(NotFound):
    code = "route_not_found"
    title = "Not found"
    advice = "No route has this path; see /docs for the API's paths."


class MethodNotAllowed(ServiceError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"
    advice = "This path does not take this HTTP method; see /docs."


class RequestTooLarge(ServiceError):
    status = 413
    code = "request_too_large"
    title = "Request too large"
    advice = "Send a smaller request body (at most 64 KiB)."


class Conflict(ServiceError):
    status = 409


class CodeTaken(Conflict):
    code = "code_taken"
    title = "Code already exists"
    advice = "Choose another code, or omit it to have one generated."


class VoucherExpired(Conflict):
    code = "voucher_expired"
    title = "Voucher expired"
    advice = "The voucher can no longer be redeemed; an administrator may extend it."


class VoucherNotStarted(Conflict):
    code = "voucher_not_started"
    title = "Voucher not yet valid"
    advice = "Try again once the voucher's start time has passed."


class VoucherDisabled(Conflict):
    code = "voucher_disabled"
    title = "Voucher disabled"
    advice = "An administrator disabled this voucher; ask them to enable it."


class VoucherExhausted(Conflict):
    code = "voucher_exhausted"
    title = "Voucher used up"
    advice = "Every redemption of this voucher has been used."


class InsufficientRedemptions(Conflict):
    code = "insufficient_redemptions"
    title = "Not enough redemptions left"
    advice = "Ask for at most 'remaining', or use mode 'up_to' to take what is left."


class CustomerLimitReached(Conflict):
    code = "customer_limit_reached"
    title = "Customer limit reached"
    advice = "This customer has used their share of the voucher."


class LimitBelowRedeemed(Conflict):
    code = "limit_below_redeemed"
    title = "Limit below redeemed count"
    advice = "Set max_redemptions to at least the number already redeemed."


class VoucherHasRedemptions(Conflict):
    code = "voucher_has_redemptions"
    title = "Voucher has redemptions"
    advice = "A voucher with a ledger cannot be deleted; disable it instead."


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    title = "Request with this key in progress"
    advice = "Another request with this Idempotency-Key is running; retry shortly."


class ValidationFailed(ServiceError):
    status = 422
    code = "validation_error"
    title = "Invalid request"
    advice = "Fix the fields listed in 'errors' and send the request again."

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None) -> None:
        fields = ", ".join(error["field"] for error in errors) or "request"
        super().__init__(detail or f"Invalid value for: {fields}.", errors=errors)


class IdempotencyKeyReused(ServiceError):
    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency key reused"
    advice = "Use a fresh Idempotency-Key for a different request."


class KeyspaceTooSmall(ServiceError):
    status = 422
    code = "keyspace_too_small"
    title = "Keyspace too small"
    advice = "Use longer codes, a larger alphabet, or fewer codes."


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"
    advice = "Wait for the number of seconds in the Retry-After header."

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Tell the client when to come back."""
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(ServiceError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
    advice = "The database cannot be reached; nothing was changed. Retry later."

    def __init__(self, detail: str, retry_after: int = 2) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Tell the client when to come back."""
        return {"Retry-After": str(self.retry_after)}


class InternalError(ServiceError):
    status = 500
    code = "internal_error"
    title = "Internal error"


def _all_error_classes() -> list[type[ServiceError]]:
    found: list[type[ServiceError]] = []
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls not in (NotFound, Conflict):
            found.append(cls)
    return found


ERRORS_BY_CODE: dict[str, type[ServiceError]] = {cls.code: cls for cls in _all_error_classes()}
