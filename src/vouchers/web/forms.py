"""Reading HTML form posts and turning them into the service's request models."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import ValidationError

from vouchers.errors import ValidationFailed
from vouchers.schemas import MAX_COUNT

MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 40

FieldErrors = dict[str, str]


class FormTooLarge(ValueError):
    """The form post is larger than any form of ours."""


async def read_form(request: Request) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` post (last value wins)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormTooLarge("form too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as error:
        raise FormTooLarge("unreadable form") from error
    return dict(pairs)


def optional_text(form: dict[str, str], name: str) -> str | None:
    """A text field, stripped; None when blank."""
    value = form.get(name, "").strip()
    return value or None


def parse_count(
    form: dict[str, str], name: str, errors: FieldErrors, *, required: bool
) -> int | None:
    """A whole-number field; records a plain-words error when it is not one."""
    text = form.get(name, "").strip().replace(",", "").replace("_", "")
    if not text:
        if required:
            errors[name] = "Enter a whole number."
        return None
    if not text.isdigit() or len(text) > 12:
        errors[name] = "Enter a whole number, such as 100."
        return None
    value = int(text)
    if not 1 <= value <= MAX_COUNT:
        errors[name] = "Enter a whole number from 1 to 1,000,000,000."
        return None
    return value


def pydantic_errors(error: ValidationError) -> FieldErrors:
    """Field name to message, from a model validation error."""
    found: FieldErrors = {}
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ())]
        field = location[0] if location else "form"
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        found.setdefault(field, _plain(field, message))
    return found


def service_errors(error: ValidationFailed) -> FieldErrors:
    """Field name to message, from the service's ValidationFailed."""
    found: FieldErrors = {}
    listed: Any = error.extra.get("errors", [])
    for item in listed:
        field = str(item.get("field", "form")).split(".")[0]
        found.setdefault(field, _plain(field, str(item.get("message", "invalid"))))
    return found


def _plain(field: str, message: str) -> str:
    if field == "code":
        return "Use 1-64 letters, digits, '-' or '_'."
    if field in ("max_redemptions", "per_customer_limit") and "greater" in message:
        return "Enter a whole number of at least 1."
    if field in ("max_redemptions", "per_customer_limit") and "less" in message:
        return "Enter a whole number of at most 1,000,000,000."
    if message.endswith("is already past"):
        return "This date is already past; choose a later one."
    if message == "must be after starts_at":
        return "Must be after the start date."
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
