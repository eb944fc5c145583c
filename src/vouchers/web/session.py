"""Console sessions and CSRF tokens: signed, stateless, and derived from the admin key.

The session cookie never holds the admin key. It holds ``<issued>.<nonce>.<mac>``
where ``mac`` is an HMAC-SHA256 over ``<issued>.<nonce>`` keyed with a secret
derived from the admin key. So:

- any worker or server that knows the admin key can check a session (no
  server-side store, nothing in process memory);
- changing the admin key signs every browser out;
- a stolen cookie is worth at most ``SESSION_MAX_AGE`` and does not reveal the key.

The CSRF token of a session is another HMAC over its nonce, so it is fixed for
the session, unguessable without the secret, and useless with another session.
The sign-in form has no session yet: it gets a short-lived nonce cookie and a
token derived from that nonce the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from vouchers import clock

SESSION_COOKIE = "vouchers_console"
SIGN_IN_COOKIE = "vouchers_sign_in"
COOKIE_PATH = "/admin"
SESSION_MAX_AGE = 12 * 60 * 60
SIGN_IN_MAX_AGE = 60 * 60
CLOCK_SKEW = 60
_DERIVATION_LABEL = b"vouchers console session v1"


def derive_secret(admin_key: str) -> bytes:
    """The signing secret of console sessions, derived from the admin key."""
    return hmac.new(admin_key.encode(), _DERIVATION_LABEL, hashlib.sha256).digest()


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Session:
    """A signed-in console session."""

    nonce: str
    issued: int
    csrf_token: str


def issue_session(secret: bytes) -> str:
    """A new session cookie value."""
    issued = int(clock.now().timestamp())
    nonce = secrets.token_urlsafe(18)
    payload = f"{issued}.{nonce}"
    return f"{payload}.{_mac(secret, 'session.' + payload)}"


def read_session(secret: bytes, cookie: str | None) -> Session | None:
    """The session a cookie proves, or None when it is absent, forged or too old."""
    if not cookie or len(cookie) > 200:
        return None
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    issued_text, nonce, mac = parts
    expected = _mac(secret, f"session.{issued_text}.{nonce}")
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    issued = int(issued_text)
    now = clock.now().timestamp()
    if issued > now + CLOCK_SKEW or now - issued > SESSION_MAX_AGE:
        return None
    return Session(nonce=nonce, issued=issued, csrf_token=_mac(secret, f"csrf.{nonce}"))


def check_csrf(session: Session, presented: str | None) -> bool:
    """Whether a form's CSRF token is this session's (constant time)."""
    return presented is not None and hmac.compare_digest(
        presented.encode(), session.csrf_token.encode()
    )


def new_sign_in_nonce() -> str:
    """A nonce for the sign-in form's cookie."""
    return secrets.token_urlsafe(18)


def sign_in_token(secret: bytes, nonce: str) -> str:
    """The CSRF token of the sign-in form bound to this nonce."""
    return _mac(secret, f"sign-in.{nonce}")


def check_sign_in_token(secret: bytes, nonce: str | None, presented: str | None) -> bool:
    """Whether the sign-in form's token matches its nonce cookie (constant time)."""
    if not nonce or not presented or len(nonce) > 100:
        return False
    return hmac.compare_digest(presented.encode(), sign_in_token(secret, nonce).encode())
