"""Field types shared by every request and response model."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from vouchers.codes import clean_code
from vouchers.timestamps import parse_time_input

MAX_METADATA_BYTES = 4096
MAX_COUNT = 1_000_000_000


class StrictModel(BaseModel):
    """A request body: unknown fields, wrong types and fractions are rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _check_metadata_size(value: dict[str, Any]) -> dict[str, Any]:
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {len(encoded)} bytes; at most {MAX_METADATA_BYTES}")
    return value


def _clean_code_value(value: object) -> object:
    return clean_code(value) if isinstance(value, str) else value


Code = Annotated[
    str,
    BeforeValidator(_clean_code_value),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Metadata = Annotated[dict[str, Any], AfterValidator(_check_metadata_size)]
TimeInput = Annotated[
    datetime | date,
    BeforeValidator(parse_time_input),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"format": "date-time"}, {"format": "date"}],
            "description": "RFC 3339 timestamp with an offset, or YYYY-MM-DD "
            "(the whole day in the server's time zone)",
            "examples": ["2027-09-01T00:00:00Z", "2027-08-31"],
        }
    ),
]
CustomerId = Annotated[str, Field(min_length=1, max_length=128)]

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, newest first, with the cursor of the next page."""

    items: list[ItemT]
    next_cursor: str | None
