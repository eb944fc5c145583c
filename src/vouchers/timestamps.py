"""Reading timestamps the way the contract says: an offset is required, a date means a whole day."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EARLIEST = date(1, 1, 2)
LATEST = date(9999, 12, 30)
OUT_OF_RANGE = "out of range: dates from 0001-01-02 to 9999-12-30"


def parse_time_input(value: object) -> date | datetime:
    """Parse an RFC 3339 timestamp with an offset, or a YYYY-MM-DD date; raise ValueError."""
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 timestamp or a YYYY-MM-DD date")
    text = value.strip()
    if DATE_ONLY.fullmatch(text):
        day = date.fromisoformat(text)
        if not EARLIEST <= day <= LATEST:
            raise ValueError(OUT_OF_RANGE)
        return day
    try:
        # RFC 3339 allows a lower-case 't' and 'z'; Python's parser wants them upper-case.
        parsed = datetime.fromisoformat(text.upper())
    except ValueError as error:
        raise ValueError("expected an RFC 3339 timestamp or a YYYY-MM-DD date") from error
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("the timestamp needs an offset such as Z or +02:00")
    if not EARLIEST <= parsed.date() <= LATEST:
        # Near year 1 or 9999 a conversion to UTC, or to the next midnight, would overflow.
        raise ValueError(OUT_OF_RANGE)
    return parsed.astimezone(UTC)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone``, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def resolve_start(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A starts_at: a date means from that day's midnight in the server's zone."""
    if isinstance(value, datetime):
        return value
    return day_start(value, zone)


def resolve_expiry(value: date | datetime, zone: ZoneInfo) -> datetime:
    """An expires_at: a date means valid through that whole day, so the next midnight."""
    if isinstance(value, datetime):
        return value
    return day_start(value + timedelta(days=1), zone)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
