"""The pure rule that decides one redemption against a voucher's locked counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vouchers.errors import (
    CustomerLimitReached,
    InsufficientRedemptions,
    ServiceError,
    ValidationFailed,
    VoucherDisabled,
    VoucherExhausted,
    VoucherExpired,
    VoucherNotStarted,
)
from vouchers.redemptions.schemas import RedemptionRequest
from vouchers.timestamps import format_timestamp


@dataclass
class VoucherState:
    """What the decision needs to know of a voucher; ``redeemed`` moves as a group is decided."""

    id: int
    code: str
    max_redemptions: int
    redeemed: int
    per_customer_limit: int | None
    starts_at: datetime | None
    expires_at: datetime
    disabled: bool

    @property
    def remaining(self) -> int:
        """How many redemptions are left."""
        return self.max_redemptions - self.redeemed


def state_of(row: Any) -> VoucherState:
    """The decision's view of a voucher row."""
    return VoucherState(
        id=row.id,
        code=row.code,
        max_redemptions=row.max_redemptions,
        redeemed=row.redeemed,
        per_customer_limit=row.per_customer_limit,
        starts_at=row.starts_at,
        expires_at=row.expires_at,
        disabled=row.disabled,
    )


def decide(
    voucher: VoucherState, customer_used: int, request: RedemptionRequest, now: datetime
) -> int:
    """How many to grant for this request, or raise the error that says why none.

    The checks follow the contract's order: a missing customer id, disabled,
    expired, not started, exhausted, customer limit, then the quantity asked.
    """
    if voucher.per_customer_limit is not None and request.customer_id is None:
        raise ValidationFailed(
            [{"field": "customer_id", "message": "required: this voucher has a per-customer limit"}]
        )
    if voucher.disabled:
        raise VoucherDisabled(f"Voucher {voucher.code} is disabled.")
    if now >= voucher.expires_at:
        raise VoucherExpired(
            f"Voucher {voucher.code} expired at {format_timestamp(voucher.expires_at)}."
        )
    if voucher.starts_at is not None and now < voucher.starts_at:
        raise VoucherNotStarted(
            f"Voucher {voucher.code} can be redeemed from {format_timestamp(voucher.starts_at)}.",
            starts_at=format_timestamp(voucher.starts_at),
        )
    remaining = voucher.remaining
    if remaining <= 0:
        raise VoucherExhausted(f"Voucher {voucher.code} has no redemptions left.", remaining=0)
    available = remaining
    if voucher.per_customer_limit is not None:
        customer_remaining = max(voucher.per_customer_limit - customer_used, 0)
        if customer_remaining == 0:
            raise _customer_limit(voucher.code, 0)
        available = min(remaining, customer_remaining)
    if request.mode == "up_to":
        return min(request.quantity, available)
    if request.quantity > remaining:
        raise InsufficientRedemptions(
            f"Voucher {voucher.code} has {remaining} redemption"
            f"{'' if remaining == 1 else 's'} left; {request.quantity} were asked for.",
            remaining=remaining,
        )
    if request.quantity > available:
        raise _customer_limit(voucher.code, available)
    return request.quantity


def _customer_limit(code: str, customer_remaining: int) -> ServiceError:
    return CustomerLimitReached(
        f"This customer can redeem voucher {code} {customer_remaining} more "
        f"time{'' if customer_remaining == 1 else 's'}.",
        customer_remaining=customer_remaining,
    )
