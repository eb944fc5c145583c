"""Random codes for batches: a CSPRNG over an alphabet, without modulo bias, at C speed.

Random bytes come from ``secrets.token_bytes`` (the OS generator). Each byte
below the largest multiple of the alphabet size is mapped to ``byte % size``;
the bytes above it are dropped (rejection sampling), so every symbol is
equally likely. ``bytes.translate`` does the mapping and the dropping in one
pass, which is what makes a million codes take a fraction of a second.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from vouchers.codes import DEFAULT_ALPHABET, DEFAULT_LENGTH

CODE_CHARACTERS = re.compile(r"^[A-Za-z0-9_-]*$")
MAX_CODE_LENGTH = 64


def normalise_alphabet(raw: str) -> str:
    """Upper-case the alphabet and drop repeated symbols, keeping their first order."""
    return "".join(dict.fromkeys(raw.upper()))


@dataclass(frozen=True)
class CodeSpec:
    """How a batch's codes look: ``prefix`` + ``length`` random symbols + ``suffix``."""

    alphabet: str = DEFAULT_ALPHABET
    length: int = DEFAULT_LENGTH
    prefix: str = ""
    suffix: str = ""

    @property
    def keyspace(self) -> int:
        """How many different codes this spec can produce."""
        return int(len(self.alphabet) ** self.length)


class CodeGenerator:
    """Draws random codes for one spec; build it once and call it per chunk."""

    def __init__(self, spec: CodeSpec) -> None:
        size = len(spec.alphabet)
        if size < 2 or size > 256:
            raise ValueError("an alphabet needs 2 to 256 symbols")
        self.spec = spec
        self._usable = 256 - 256 % size
        symbols = spec.alphabet.encode("ascii")
        self._table = bytes(
            symbols[byte % size] if byte < self._usable else 0 for byte in range(256)
        )
        self._rejected = bytes(range(self._usable, 256))

    def _symbols(self, count: int) -> str:
        """``count`` uniformly random symbols of the alphabet."""
        out = bytearray()
        while len(out) < count:
            missing = count - len(out)
            # Ask for a little more than needed so one draw nearly always suffices.
            raw = secrets.token_bytes(missing * 256 // self._usable + 64)
            out += raw.translate(self._table, self._rejected)
        return out[:count].decode("ascii")

    def draw(self, count: int) -> list[str]:
        """``count`` random codes (duplicates among them are possible, if unlikely)."""
        length = self.spec.length
        text = self._symbols(count * length)
        prefix, suffix = self.spec.prefix, self.spec.suffix
        if prefix or suffix:
            return [prefix + text[i : i + length] + suffix for i in range(0, len(text), length)]
        return [text[i : i + length] for i in range(0, len(text), length)]

    def draw_unique(self, count: int) -> list[str]:
        """Up to ``count`` random codes with the duplicates among them removed."""
        return list(dict.fromkeys(self.draw(count)))
