"""Request and response models of the batch routes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from vouchers.batches.generator import CODE_CHARACTERS, MAX_CODE_LENGTH, normalise_alphabet
from vouchers.codes import DEFAULT_ALPHABET, DEFAULT_LENGTH
from vouchers.schemas import Count, Metadata, StrictModel, TimeInput

MAX_BATCH_COUNT = 10_000_000
MIN_CODE_LENGTH = 6
MAX_RANDOM_LENGTH = 32


class BatchStatus(StrEnum):
    """Where a batch is in its life."""

    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


class CodeSpecIn(StrictModel):
    """How the batch's codes look: prefix + `length` random symbols + suffix."""

    length: int = Field(default=DEFAULT_LENGTH, ge=MIN_CODE_LENGTH, le=MAX_RANDOM_LENGTH)
    alphabet: str = Field(default=DEFAULT_ALPHABET, min_length=2, max_length=256)
    prefix: str = Field(default="", max_length=MAX_CODE_LENGTH)
    suffix: str = Field(default="", max_length=MAX_CODE_LENGTH)

    @field_validator("alphabet")
    @classmethod
    def _clean_alphabet(cls, value: str) -> str:
        if not CODE_CHARACTERS.fullmatch(value):
            raise ValueError("the alphabet may only use code characters A-Z a-z 0-9 - _")
        symbols = normalise_alphabet(value)
        if len(symbols) < 2:
            raise ValueError("the alphabet needs at least 2 different symbols (ignoring case)")
        return symbols

    @field_validator("prefix", "suffix")
    @classmethod
    def _code_characters(cls, value: str) -> str:
        if not CODE_CHARACTERS.fullmatch(value):
            raise ValueError("may only use code characters A-Z a-z 0-9 - _")
        return value

    @model_validator(mode="after")
    def _fits(self) -> CodeSpecIn:
        total = len(self.prefix) + self.length + len(self.suffix)
        if total > MAX_CODE_LENGTH:
            raise ValueError(
                f"prefix + length + suffix is {total} characters; a code has at most "
                f"{MAX_CODE_LENGTH}"
            )
        return self


class BatchCreate(StrictModel):
    """Body of POST /v1/batches."""

    count: int = Field(ge=1, le=MAX_BATCH_COUNT)
    max_redemptions: Count
    expires_at: TimeInput
    starts_at: TimeInput | None = None
    per_customer_limit: Count | None = None
    metadata: Metadata = Field(default_factory=dict)
    code: CodeSpecIn = Field(default_factory=CodeSpecIn)


class CodeSpecRead(BaseModel):
    """The code spec a batch was created with (alphabet as used: upper-cased, de-duplicated)."""

    length: int
    alphabet: str
    prefix: str
    suffix: str


class BatchRead(BaseModel):
    """A batch as the routes return it."""

    id: str
    status: BatchStatus
    count: int
    created: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    max_redemptions: int
    per_customer_limit: int | None
    starts_at: datetime | None
    expires_at: datetime
    metadata: dict[str, Any]
    code: CodeSpecRead
