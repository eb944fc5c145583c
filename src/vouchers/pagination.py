"""Opaque cursors for keyset paging, newest first."""

from __future__ import annotations

import base64
import binascii


class BadCursor(ValueError):
    """The cursor was not one this service handed out."""


def encode_cursor(last_id: int) -> str:
    """The cursor that continues after the row with this id."""
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after; raise BadCursor when it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "v1" or not number.isdigit():
            raise BadCursor(cursor)
        return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadCursor(cursor) from error
