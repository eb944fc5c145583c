"""Voucher codes: the allowed form, normalisation to a look-up key, generation."""

from __future__ import annotations

import re
import secrets

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
DEFAULT_LENGTH = 12


def clean_code(raw: str) -> str:
    """Strip surrounding whitespace and check the code's form; raise ValueError if bad."""
    code = raw.strip()
    if not CODE_PATTERN.fullmatch(code):
        raise ValueError("a code is 1-64 characters from A-Z a-z 0-9 - _")
    return code


def code_key(code: str) -> str:
    """The case-insensitive key two equal codes share."""
    return code.strip().upper()


def generate_code(alphabet: str = DEFAULT_ALPHABET, length: int = DEFAULT_LENGTH) -> str:
    """A code drawn from a cryptographically secure generator."""
    return "".join(secrets.choice(alphabet) for _ in range(length))
