"""What the client returns: plain dataclasses named and shaped like the contract's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["Batch", "Redemption", "ValidationResult", "Voucher"]


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp from the service as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError(f"expected a timestamp, got {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _optional_timestamp(value: Any) -> datetime | None:
    return None if value is None else parse_timestamp(value)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the service writes it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class _Model:
    """Shared behaviour: back to the contract's JSON."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON document this object was read from (timestamps as RFC 3339 ``Z``)."""
        return {
            item.name: _jsonable(getattr(self, item.name))
            for item in fields(self)  # type: ignore[arg-type]
            if item.name != "extra"
        } | dict(getattr(self, "extra", {}))


@dataclass(frozen=True)
class Voucher(_Model):
    """A voucher as every route returns it."""

    code: str
    max_redemptions: int
    redeemed: int
    remaining: int
    per_customer_limit: int | None
    starts_at: datetime | None
    expires_at: datetime
    disabled: bool
    status: str
    batch_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Voucher:
        """Read a voucher document."""
        return cls(
            code=data["code"],
            max_redemptions=data["max_redemptions"],
            redeemed=data["redeemed"],
            remaining=data["remaining"],
            per_customer_limit=data.get("per_customer_limit"),
            starts_at=_optional_timestamp(data.get("starts_at")),
            expires_at=parse_timestamp(data["expires_at"]),
            disabled=data["disabled"],
            status=data["status"],
            batch_id=data.get("batch_id"),
            metadata=data.get("metadata") or {},
            created_at=parse_timestamp(data["created_at"]),
            updated_at=parse_timestamp(data["updated_at"]),
        )


@dataclass(frozen=True)
class Redemption(_Model):
    """One row of a voucher's ledger."""

    id: str
    code: str
    quantity: int
    customer_id: str | None
    remaining: int
    metadata: dict[str, Any]
    created_at: datetime
    reversed_at: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Redemption:
        """Read a redemption document."""
        return cls(
            id=data["id"],
            code=data["code"],
            quantity=data["quantity"],
            customer_id=data.get("customer_id"),
            remaining=data["remaining"],
            metadata=data.get("metadata") or {},
            created_at=parse_timestamp(data["created_at"]),
            reversed_at=_optional_timestamp(data.get("reversed_at")),
        )


@dataclass(frozen=True)
class ValidationResult(_Model):
    """The answer of a dry run: would this redemption succeed, and if not, with which code."""

    valid: bool
    code: str | None
    remaining: int
    expires_at: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationResult:
        """Read a validation document."""
        return cls(
            valid=data["valid"],
            code=data.get("code"),
            remaining=data["remaining"],
            expires_at=_optional_timestamp(data.get("expires_at")),
        )


BATCH_FIELDS = ("id", "status", "count", "created", "error", "created_at", "finished_at")


@dataclass(frozen=True)
class Batch(_Model):
    """A bulk generation job; fields the contract leaves open are kept in ``extra``."""

    id: str
    status: str
    count: int
    created: int
    error: str | None
    created_at: datetime | None
    finished_at: datetime | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Whether the batch is done or failed."""
        return self.status in ("done", "failed")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Batch:
        """Read a batch document."""
        return cls(
            id=str(data["id"]),
            status=data["status"],
            count=data["count"],
            created=data.get("created") or 0,
            error=data.get("error"),
            created_at=_optional_timestamp(data.get("created_at")),
            finished_at=_optional_timestamp(data.get("finished_at")),
            extra={key: value for key, value in data.items() if key not in BATCH_FIELDS},
        )
