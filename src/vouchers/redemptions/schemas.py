"""Request and response models of the redemption routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from vouchers.schemas import Count, CustomerId, Metadata, StrictModel


class RedemptionRequest(StrictModel):
    """Body of POST /v1/vouchers/{code}/redemptions (and of validate)."""

    quantity: Count = 1
    mode: Literal["exact", "up_to"] = "exact"
    customer_id: CustomerId | None = None
    metadata: Metadata = Field(default_factory=dict)


class RedemptionRead(BaseModel):
    """One row of a voucher's ledger."""

    id: str
    code: str
    quantity: int
    customer_id: str | None
    remaining: int
    metadata: dict[str, Any]
    created_at: datetime
    reversed_at: datetime | None


class ValidationResult(BaseModel):
    """The answer of a dry run: would this redemption succeed, and if not, why."""

    valid: bool
    code: str | None
    remaining: int
    expires_at: datetime | None


class DayTotal(BaseModel):
    """Net redeemed quantity on one UTC day."""

    day: date
    quantity: int


class DailyRedemptions(BaseModel):
    """Redemptions per day over a period, oldest day first."""

    days: list[DayTotal]
    truncated: bool
