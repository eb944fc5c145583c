"""The one source of the current time, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    """The current time in UTC, shifted by any offset a test has set."""
    return datetime.now(UTC) + _offset


def set_offset(offset: timedelta) -> None:
    """Shift the clock (tests only)."""
    global _offset
    _offset = offset
