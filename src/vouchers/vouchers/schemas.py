"""Request and response models of the voucher routes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from vouchers.schemas import Code, Count, Metadata, StrictModel, TimeInput


class VoucherStatus(StrEnum):
    """A voucher's derived status."""

    active = "active"
    scheduled = "scheduled"
    expired = "expired"
    exhausted = "exhausted"
    disabled = "disabled"


class VoucherCreate(StrictModel):
    """Body of POST /v1/vouchers."""

    code: Code | None = None
    max_redemptions: Count
    expires_at: TimeInput
    starts_at: TimeInput | None = None
    per_customer_limit: Count | None = None
    metadata: Metadata = Field(default_factory=dict)


class VoucherUpdate(StrictModel):
    """Body of PATCH /v1/vouchers/{code}; only the fields sent are changed."""

    max_redemptions: Count | None = None
    expires_at: TimeInput | None = None
    starts_at: TimeInput | None = None
    per_customer_limit: Count | None = None
    disabled: bool | None = None
    metadata: Metadata | None = None


class VoucherRead(BaseModel):
    """A voucher as every route returns it."""

    code: str
    max_redemptions: int
    redeemed: int
    remaining: int
    per_customer_limit: int | None
    starts_at: datetime | None
    expires_at: datetime
    disabled: bool
    status: VoucherStatus
    batch_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
