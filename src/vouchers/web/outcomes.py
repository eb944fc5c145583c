"""Plain-words explanations of redemption answers, for the public page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from vouchers.web.templating import format_number, format_when


@dataclass(frozen=True)
class Outcome:
    """What the public page says after a redeem attempt."""

    ok: bool
    headline: str
    advice: str
    field: str | None = None


def _plural(count: int, word: str) -> str:
    return f"{format_number(count)} {word}{'' if count == 1 else 's'}"


def _when(value: Any, zone: ZoneInfo) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return format_when(datetime.fromisoformat(value.replace("Z", "+00:00")), zone)
    except ValueError:
        return None


def success(payload: dict[str, Any], *, replayed: bool) -> Outcome:
    """The outcome of a 201."""
    quantity = int(payload.get("quantity", 0))
    remaining = int(payload.get("remaining", 0))
    left = (
        "Nothing remains on this voucher now."
        if remaining == 0
        else f"{_plural(remaining, 'redemption')} remain{'s' if remaining == 1 else ''}."
    )
    headline = f"Redeemed {_plural(quantity, 'time')} on voucher {payload.get('code', '')}."
    if replayed:
        headline = f"This form was already sent: {headline[0].lower()}{headline[1:]}"
    return Outcome(True, headline, left + " Keep this page as your confirmation.")


def failure(payload: dict[str, Any], *, quantity: int, zone: ZoneInfo) -> Outcome:
    """The outcome of an error answer, by its stable code."""
    code = payload.get("code")
    if code == "voucher_not_found":
        return Outcome(
            False,
            "We could not find a voucher with that code.",
            "Check the code for typos; upper or lower case does not matter. Nothing was redeemed.",
            "code",
        )
    if code == "voucher_expired":
        ended = _when(payload.get("expires_at"), zone)
        return Outcome(
            False,
            "This voucher has expired" + (f" (it ended {ended})." if ended else "."),
            "It can no longer be redeemed. If you think this is a mistake, "
            "contact whoever gave you the voucher.",
            "code",
        )
    if code == "voucher_not_started":
        starts = _when(payload.get("starts_at"), zone)
        return Outcome(
            False,
            "This voucher cannot be used yet" + (f": it starts {starts}." if starts else "."),
            "Please come back once it has started. Nothing was redeemed.",
            "code",
        )
    if code == "voucher_disabled":
        return Outcome(
            False,
            "This voucher has been switched off.",
            "Contact whoever gave you the voucher. Nothing was redeemed.",
            "code",
        )
    if code == "voucher_exhausted":
        return Outcome(
            False,
            "This voucher has been used up: no redemptions remain.",
            "Nothing was redeemed. Contact whoever gave you the voucher if you expected more.",
            "code",
        )
    if code == "insufficient_redemptions":
        remaining = int(payload.get("remaining", 0))
        verb = "remains" if remaining == 1 else "remain"
        return Outcome(
            False,
            f"Only {_plural(remaining, 'redemption')} {verb} on this voucher; "
            f"you asked for {format_number(quantity)}.",
            f"Lower the quantity to {format_number(remaining)} or less and try again. "
            "Nothing was redeemed.",
            "quantity",
        )
    if code == "customer_limit_reached":
        left = int(payload.get("customer_remaining", 0))
        if left == 0:
            return Outcome(
                False,
                "You have already used your share of this voucher.",
                "Each customer may redeem it only a limited number of times. Nothing was redeemed.",
                "customer_id",
            )
        return Outcome(
            False,
            f"You can redeem this voucher only {_plural(left, 'more time')}.",
            f"Lower the quantity to {format_number(left)} or less and try again. "
            "Nothing was redeemed.",
            "quantity",
        )
    if code == "validation_error":
        fields = [str(item.get("field", "")) for item in payload.get("errors", [])]
        if "customer_id" in fields:
            return Outcome(
                False,
                "This voucher is limited per customer, so it needs your customer ID.",
                "Enter your customer ID and try again. Nothing was redeemed.",
                "customer_id",
            )
        return Outcome(False, "Some fields need fixing.", "Correct them and try again.")
    if code == "rate_limited":
        wait = int(payload.get("retry_after") or 60)
        return Outcome(
            False,
            "Too many unknown codes were tried from your connection.",
            f"Wait {_plural(wait, 'second')}, check the code, then try again. "
            "Nothing was redeemed.",
        )
    if code in ("idempotency_key_reused", "idempotency_in_progress"):
        return Outcome(
            False,
            "This form was already sent.",
            "The page has been refreshed: check the fields and press Redeem again.",
        )
    if code == "service_unavailable":
        return Outcome(
            False,
            "We could not reach our database, so nothing was redeemed.",
            "Please try again in a moment.",
        )
    return Outcome(
        False,
        "Something went wrong on our side; nothing was redeemed.",
        f"Please try again. If it keeps happening, quote reference {payload.get('request_id')}.",
    )
