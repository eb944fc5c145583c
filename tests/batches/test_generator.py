"""The code generator on its own: shape, alphabet handling, and no modulo bias."""

from __future__ import annotations

import re
import secrets
from collections import Counter

import pytest

from vouchers.batches.generator import CodeGenerator, CodeSpec, normalise_alphabet


def test_alphabet_is_upper_cased_and_de_duplicated_in_order() -> None:
    assert normalise_alphabet("abcABCxx9") == "ABCX9"


def test_codes_have_the_spec_shape() -> None:
    spec = CodeSpec(alphabet="XYZ7", length=9, prefix="pre-", suffix="_s")
    codes = CodeGenerator(spec).draw(500)
    assert len(codes) == 500
    assert all(re.fullmatch(r"pre-[XYZ7]{9}_s", code) for code in codes)


def test_draw_unique_removes_duplicates() -> None:
    codes = CodeGenerator(CodeSpec(alphabet="AB", length=6)).draw_unique(500)
    assert len(codes) == len(set(codes)) <= 64


def chi_square_limit(degrees: int, z: float = 4.0) -> float:
    """A chi-square value exceeded by chance far less than once in 10,000 (Wilson-Hilferty)."""
    return float(degrees * (1 - 2 / (9 * degrees) + z * (2 / (9 * degrees)) ** 0.5) ** 3)


def chi_square(counts: Counter[str], alphabet: str) -> float:
    """Pearson's statistic of the symbol counts against a uniform alphabet."""
    expected = sum(counts.values()) / len(alphabet)
    return sum((counts[symbol] - expected) ** 2 / expected for symbol in alphabet)


@pytest.mark.parametrize("alphabet", ["ABC", "0123456789", "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"])
def test_every_symbol_is_equally_likely(alphabet: str) -> None:
    text = "".join(CodeGenerator(CodeSpec(alphabet=alphabet, length=30)).draw(50_000))
    assert set(text) == set(alphabet)
    assert chi_square(Counter(text), alphabet) < chi_square_limit(len(alphabet) - 1)


def test_the_check_would_catch_modulo_bias() -> None:
    # 256 is not a multiple of 3 or 10, so `byte % size` favours the first symbols.
    bytes_seen = Counter(secrets.token_bytes(6_000_000))
    for alphabet in ("ABC", "0123456789"):
        biased: Counter[str] = Counter()
        for byte, seen in bytes_seen.items():
            biased[alphabet[byte % len(alphabet)]] += seen
        assert chi_square(biased, alphabet) > chi_square_limit(len(alphabet) - 1)


def test_keyspace() -> None:
    assert CodeSpec(alphabet="AB", length=6).keyspace == 64
    assert CodeSpec().keyspace == 32**12
