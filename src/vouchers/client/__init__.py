"""Python client of the voucher service (no server-side imports: only Requests).

    from vouchers.client import VoucherClient, VoucherExhausted

    with VoucherClient("http://127.0.0.1:8000", api_key="...") as client:
        voucher = client.create_voucher(max_redemptions=100, expires_at="2027-09-01")
        try:
            client.redeem(voucher.code, customer_id="alice")
        except VoucherExhausted:
            ...

The error classes form the tree described in ``vouchers.client._errors``.
"""

from vouchers.client._client import DEFAULT_TIMEOUT, DEFAULT_URL, UNSET, Unset, VoucherClient
from vouchers.client._errors import (
    ApiError,
    BatchFailed,
    BatchNotFound,
    CodeTaken,
    Conflict,
    ConnectError,
    ConnectTimeout,
    CustomerLimitReached,
    DecodingError,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InsufficientRedemptions,
    InternalError,
    KeyspaceTooSmall,
    LimitBelowRedeemed,
    MalformedRequest,
    NotFound,
    RateLimited,
    ReadError,
    ReadTimeout,
    RedemptionNotFound,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    UnprocessableEntity,
    ValidationError,
    VoucherDisabled,
    VoucherExhausted,
    VoucherExpired,
    VoucherHasRedemptions,
    VoucherNotFound,
    VoucherNotStarted,
    VouchersError,
    WaitTimeout,
)
from vouchers.client._models import Batch, Redemption, ValidationResult, Voucher

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "UNSET",
    "ApiError",
    "Batch",
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
    "Redemption",
    "RedemptionNotFound",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "UnprocessableEntity",
    "Unset",
    "ValidationError",
    "ValidationResult",
    "Voucher",
    "VoucherClient",
    "VoucherDisabled",
    "VoucherExhausted",
    "VoucherExpired",
    "VoucherHasRedemptions",
    "VoucherNotFound",
    "VoucherNotStarted",
    "VouchersError",
    "WaitTimeout",
]
