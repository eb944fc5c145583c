"""401 and 403 through the client, on a server that requires a redeem key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.conftest import MakeClient
from tests.support import ADMIN_KEY, Server, fresh_database
from vouchers.client import Forbidden, Unauthorized

REDEEM_KEY = "test-redeem-key-0123456789abcdef"


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A SQLite server whose redeem and validate routes need a key."""
    tmp_path = tmp_path_factory.mktemp("redeem-key")
    with fresh_database("sqlite", tmp_path) as url:
        running = Server(url, tmp_path / "data", env={"VOUCHERS_REDEEM_KEY": REDEEM_KEY}).start()
        try:
            yield running
        finally:
            running.stop()


def test_keys_and_their_rights(locked_server: Server, make_client: MakeClient) -> None:
    admin = make_client(locked_server.url, ADMIN_KEY)
    redeemer = make_client(locked_server.url, REDEEM_KEY)
    anonymous = make_client(locked_server.url)
    code = admin.create_voucher(max_redemptions=5, expires_at="2099-01-01").code

    with pytest.raises(Unauthorized) as no_key:
        anonymous.redeem(code)
    assert (no_key.value.status, no_key.value.code) == (401, "unauthorized")
    with pytest.raises(Unauthorized):
        anonymous.validate(code)
    with pytest.raises(Unauthorized):
        anonymous.get_voucher(code)
    with pytest.raises(Unauthorized):
        make_client(locked_server.url, "not-the-key-0123456789").list_vouchers().__next__()

    assert redeemer.validate(code).valid
    assert redeemer.redeem(code).remaining == 4
    with pytest.raises(Forbidden) as forbidden:
        redeemer.get_voucher(code)
    assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
    with pytest.raises(Forbidden):
        redeemer.create_voucher(max_redemptions=1, expires_at="2099-01-01")

    assert admin.redeem(code).remaining == 3
