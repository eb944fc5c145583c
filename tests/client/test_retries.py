"""Retries: a lost answer, a 429, a 503 and a busy key are retried, and applied once.

A loopback TCP proxy sits between the client and a real server (or between a
real server and PostgreSQL) and fails on demand; the ledger is the judge.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from tests.client.conftest import MakeClient
from tests.support import ADMIN_KEY, Api, Server, free_port, ledger_sum, unique_code
from tests.tcp_proxy import TcpProxy, http_response
from vouchers.client import (
    ConnectError,
    DecodingError,
    IdempotencyInProgress,
    RateLimited,
    ReadError,
    ReadTimeout,
    ServiceUnavailable,
    TransportError,
    VoucherClient,
)


@pytest.fixture
def proxy(server: Server) -> Iterator[TcpProxy]:
    """A proxy in front of the shared server."""
    with TcpProxy(server.port) as running:
        yield running


@pytest.fixture
def proxied(proxy: TcpProxy, make_client: MakeClient) -> MakeClient:
    """Make admin clients that talk to the server through the proxy."""

    def make(**options: float) -> VoucherClient:
        return make_client(proxy.url, ADMIN_KEY, **options)

    return make


def rate_limited(retry_after: int) -> bytes:
    """A canned 429 answer, as the contract describes it."""
    body = {
        "type": "/problems/rate_limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "Too many failed look-ups; wait.",
        "code": "rate_limited",
        "request_id": "req_proxy",
    }
    return http_response(
        429,
        "Too Many Requests",
        json.dumps(body).encode(),
        {"Content-Type": "application/problem+json", "Retry-After": str(retry_after)},
    )


def test_lost_answer_is_retried_with_the_same_key_and_applied_once(
    proxy: TcpProxy, proxied: MakeClient, api: Api
) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    proxy.drop_responses = 1
    redemption = proxied().redeem(code, quantity=3)
    assert proxy.drop_responses == 0, "the first answer was not dropped"
    assert redemption.quantity == 3 and redemption.remaining == 7
    assert ledger_sum(api, code) == (3, 1)
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 3


def test_without_retries_a_lost_answer_is_a_read_error_yet_applied(
    proxy: TcpProxy, proxied: MakeClient, api: Api
) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    proxy.drop_responses = 1
    with pytest.raises(ReadError) as caught:
        proxied(max_retries=0).redeem(code)
    assert not isinstance(caught.value, requests.RequestException)
    assert ledger_sum(api, code) == (1, 1)


def test_lost_answers_of_other_posts_are_retried_once(
    proxy: TcpProxy, proxied: MakeClient, api: Api
) -> None:
    client = proxied()
    proxy.drop_responses = 1
    # Sent twice without the same key, the second create would be 409 code_taken.
    code = unique_code()
    voucher = client.create_voucher(code=code, max_redemptions=4, expires_at="2099-01-01")
    assert proxy.drop_responses == 0 and voucher.code == code
    redemption = client.redeem(voucher.code, quantity=2)
    proxy.drop_responses = 1
    assert client.reverse(redemption.id).reversed_at is not None
    assert client.get_voucher(voucher.code).remaining == 4


def test_get_is_retried_but_patch_is_not_when_the_outcome_is_unknown(
    proxy: TcpProxy, proxied: MakeClient, api: Api
) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    client = proxied()
    proxy.drop_responses = 1
    assert client.get_voucher(code).code == code
    proxy.drop_responses = 1
    with pytest.raises(ReadError):
        client.update_voucher(code, max_redemptions=5)
    assert proxy.drop_responses == 0
    assert api.get(f"/v1/vouchers/{code}").json()["max_redemptions"] == 5


def test_429_is_retried_after_retry_after(proxy: TcpProxy, proxied: MakeClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    proxy.canned.append(rate_limited(1))
    started = time.monotonic()
    redemption = proxied().redeem(code)
    assert proxy.canned_served == 1
    assert time.monotonic() - started >= 1.0
    assert redemption.remaining == 9
    assert ledger_sum(api, code) == (1, 1)


def test_429_longer_than_the_cap_is_raised(proxy: TcpProxy, proxied: MakeClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    proxy.canned.append(rate_limited(30))
    with pytest.raises(RateLimited) as caught:
        proxied(max_retry_wait=5).redeem(code)
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (
        429,
        "rate_limited",
        30,
    )
    assert ledger_sum(api, code) == (0, 0)


def test_an_answer_that_is_not_the_contract_is_a_decoding_error(
    proxy: TcpProxy, proxied: MakeClient
) -> None:
    page = b"<html>Welcome to the captive portal</html>"
    proxy.canned.append(http_response(200, "OK", page, {"Content-Type": "text/html"}))
    with pytest.raises(DecodingError):
        proxied().get_voucher("X")


def test_connection_refused_is_a_connect_error(make_client: MakeClient) -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}", max_retries=1, backoff=0.01)
    with pytest.raises(ConnectError) as caught:
        client.get_voucher("X")
    assert isinstance(caught.value, TransportError)
    assert not isinstance(caught.value, requests.RequestException)


def test_no_answer_is_a_read_timeout(proxy: TcpProxy, make_client: MakeClient) -> None:
    proxy.silent = True
    client = make_client(proxy.url, ADMIN_KEY, timeout=0.3, max_retries=0)
    with pytest.raises(ReadTimeout):
        client.get_voucher("X")


def _advisory_lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class KeyHolder:
    """Hold a PostgreSQL advisory lock on an idempotency key, as a running request would."""

    def __init__(self, database_url: str, key: str) -> None:
        self.url = make_url(database_url)
        self.key = key
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(
            host=self.url.host,
            port=self.url.port or 5432,
            user=self.url.username,
            password=self.url.password,
            database=self.url.database,
        )
        try:
            await connection.execute("SELECT pg_advisory_lock($1)", _advisory_lock_id(self.key))
            self.locked.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        finally:
            await connection.close()

    def __enter__(self) -> KeyHolder:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.thread.join(10)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_idempotency_in_progress_is_retried_with_the_same_key(
    backend: str, server: Server, api: Api, make_client: MakeClient
) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    key = "busy-" + unique_code()
    with KeyHolder(server.database_url, key) as holder:
        with pytest.raises(IdempotencyInProgress) as caught:
            make_client(server.url, max_retries=0).redeem(code, idempotency_key=key)
        assert caught.value.status == 409
        threading.Timer(0.5, holder.release.set).start()
        client = make_client(server.url, max_retries=8, backoff=0.1, max_retry_wait=1)
        redemption = client.redeem(code, quantity=2, idempotency_key=key)
    assert redemption.remaining == 8
    assert ledger_sum(api, code) == (2, 1)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_503_while_the_database_is_down_is_retried_and_applied_once(
    backend: str, fresh_db: str, tmp_path: Path, make_client: MakeClient
) -> None:
    database = make_url(fresh_db)
    with TcpProxy(database.port or 5432) as db_proxy:
        url = database.set(port=db_proxy.port).render_as_string(hide_password=False)
        server = Server(url, tmp_path / "data", env={"VOUCHERS_DB_TIMEOUT": "2"}).start()
        try:
            api = Api(server.url)
            code = api.create_voucher(max_redemptions=10)["code"]
            db_proxy.stop()
            with pytest.raises(ServiceUnavailable) as caught:
                make_client(server.url, max_retries=0).redeem(code)
            assert caught.value.status == 503 and caught.value.retry_after is not None
            threading.Timer(0.5, db_proxy.start).start()
            client = make_client(server.url, max_retries=4, backoff=0.2, max_retry_wait=5)
            assert client.redeem(code, quantity=2).remaining == 8
            assert ledger_sum(api, code) == (2, 1)
        finally:
            server.stop()
