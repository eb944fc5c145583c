"""Admin and redeem keys: where they come from and how requests prove them."""

from __future__ import annotations

import hmac
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vouchers.config import Settings
from vouchers.errors import Forbidden, Unauthorized

ADMIN_KEY_FILE = "admin_key"


@dataclass(frozen=True)
class Keys:
    """The admin key, and the optional key that redeem and validate require."""

    admin: str
    redeem: str | None

    def is_admin(self, presented: str | None) -> bool:
        """Whether the presented key is the admin key (constant time)."""
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.admin.encode()
        )

    def is_redeemer(self, presented: str | None) -> bool:
        """Whether the presented key is the redeem key (constant time)."""
        return (
            presented is not None
            and self.redeem is not None
            and hmac.compare_digest(presented.encode(), self.redeem.encode())
        )

    def require_admin(self, presented: str | None) -> None:
        """Raise 401 without a valid key, 403 for the redeem key."""
        if self.is_admin(presented):
            return
        if self.is_redeemer(presented):
            raise Forbidden("The redeem key cannot be used on admin routes.")
        raise Unauthorized("This route needs the admin key as 'Authorization: Bearer <key>'.")

    def require_redeemer(self, presented: str | None) -> None:
        """Pass everyone when no redeem key is set; otherwise require it or the admin key."""
        if self.redeem is None or self.is_redeemer(presented) or self.is_admin(presented):
            return
        raise Unauthorized("This server requires a key to redeem: 'Authorization: Bearer <key>'.")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an 'Authorization: Bearer <token>' header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def load_keys(settings: Settings) -> Keys:
    """The configured keys, creating and storing an admin key on first start."""
    redeem = settings.redeem_key.get_secret_value() if settings.redeem_key else None
    if settings.admin_key is not None:
        return Keys(settings.admin_key.get_secret_value(), redeem)
    return Keys(stored_admin_key(settings.data_dir), redeem)


def stored_admin_key(data_dir: Path) -> str:
    """The admin key kept in the data directory; made (mode 0600) and printed once if absent.

    The key is written to a private temporary file and then hard-linked into
    place, so several workers starting at once agree on one complete key.
    """
    path = data_dir / ADMIN_KEY_FILE
    existing = _read_key(path)
    if existing:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    temporary = data_dir / f".{ADMIN_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _wait_for_key(path)
    finally:
        temporary.unlink(missing_ok=True)
    print(
        f"vouchers: created an admin key and stored it in {path} (mode 0600).\n"
        f"vouchers: admin key: {key}\n"
        "vouchers: it will not be printed again.",
        file=sys.stderr,
        flush=True,
    )
    return key


def _read_key(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _wait_for_key(path: Path) -> str:
    for _ in range(50):
        key = _read_key(path)
        if key:
            return key
        time.sleep(0.05)
    raise RuntimeError(f"{path} exists but holds no key")
