"""Console session tokens and CSRF tokens, without a server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from vouchers import clock
from vouchers.web.session import (
    SESSION_MAX_AGE,
    check_csrf,
    check_sign_in_token,
    derive_secret,
    issue_session,
    read_session,
    sign_in_token,
)

KEY = "an-admin-key-for-unit-tests-0001"


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    yield
    clock.set_offset(timedelta(0))


def test_a_session_is_read_back_and_carries_a_stable_csrf_token() -> None:
    secret = derive_secret(KEY)
    token = issue_session(secret)
    session = read_session(secret, token)
    assert session is not None
    assert KEY not in token
    again = read_session(secret, token)
    assert again is not None and again.csrf_token == session.csrf_token
    assert check_csrf(session, session.csrf_token)
    assert not check_csrf(session, None) and not check_csrf(session, "x")
    other = read_session(secret, issue_session(secret))
    assert other is not None and not check_csrf(session, other.csrf_token)


def test_tampered_foreign_or_old_sessions_are_refused() -> None:
    secret = derive_secret(KEY)
    token = issue_session(secret)
    issued, nonce, mac = token.split(".")
    assert read_session(secret, f"{int(issued) + 1}.{nonce}.{mac}") is None
    assert read_session(secret, f"{issued}.{nonce}x.{mac}") is None
    assert read_session(derive_secret(KEY + "-rotated"), token) is None
    assert read_session(secret, None) is None and read_session(secret, "a.b") is None
    clock.set_offset(timedelta(seconds=SESSION_MAX_AGE + 1))
    assert read_session(secret, token) is None


def test_sign_in_token_is_bound_to_its_nonce() -> None:
    secret = derive_secret(KEY)
    token = sign_in_token(secret, "nonce-1")
    assert check_sign_in_token(secret, "nonce-1", token)
    assert not check_sign_in_token(secret, "nonce-2", token)
    assert not check_sign_in_token(secret, None, token)
    assert not check_sign_in_token(secret, "nonce-1", None)
