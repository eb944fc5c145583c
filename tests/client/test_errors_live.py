"""Client error classes raised by a real server's answers, not by hand-made responses.

One SQLite server for the module (the client does not depend on the backend),
with a lookup limit of 1 so the real limiter answers 429 at once, and any
keyspace allowed so a batch can run out of codes. Its first failed look-up
blocks public routes from this address for a minute: the other tests here use
admin routes only, which the limiter never blocks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.client.conftest import MakeClient
from tests.support import ADMIN_KEY, Server, fresh_database, unique_code
from vouchers.client import (
    BatchFailed,
    InternalError,
    RateLimited,
    VoucherClient,
    VoucherNotFound,
    WaitTimeout,
)

FUTURE = "2099-01-01T00:00:00Z"
WINDOW = 60


@pytest.fixture(scope="module")
def database_and_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Server]]:
    """A SQLite server that rate-limits after one unknown code and allows tiny keyspaces."""
    tmp_path = tmp_path_factory.mktemp("errors-live")
    with fresh_database("sqlite", tmp_path) as url:
        env = {
            "VOUCHERS_LOOKUP_LIMIT": "1",
            "VOUCHERS_LOOKUP_WINDOW": str(WINDOW),
            "VOUCHERS_MAX_GUESS_PROBABILITY": "1",
        }
        running = Server(url, tmp_path / "data", env=env).start()
        try:
            yield url, running
        finally:
            running.stop()


@pytest.fixture
def live(database_and_server: tuple[str, Server]) -> Server:
    """The module's server."""
    return database_and_server[1]


@pytest.fixture
def admin(live: Server, make_client: MakeClient) -> VoucherClient:
    """An admin client of the module's server."""
    return make_client(live.url, ADMIN_KEY)


def test_rate_limited_by_the_real_limiter(live: Server, make_client: MakeClient) -> None:
    public = make_client(live.url, None, max_retries=0)
    with pytest.raises(VoucherNotFound):
        public.redeem(unique_code())  # the one failed look-up the limit allows
    limited: RateLimited | None = None
    for _ in range(5):  # the window may roll over once between two requests
        try:
            public.redeem(unique_code())
        except RateLimited as error:
            limited = error
            break
        except VoucherNotFound:
            continue
    assert limited is not None, "the limiter never answered 429"
    assert limited.status == 429
    assert limited.code == "rate_limited"
    assert limited.detail and limited.request_id
    assert limited.retry_after is not None and 1 <= limited.retry_after <= WINDOW

    # With retries on, a Retry-After longer than the client will wait is not waited out.
    patient = make_client(live.url, None, max_retries=3, max_retry_wait=0.5)
    with pytest.raises(RateLimited) as again:
        patient.redeem(unique_code())
    assert again.value.retry_after is not None and again.value.retry_after >= 1


def test_batch_failed_when_the_keyspace_runs_out(admin: VoucherClient) -> None:
    # Alphabet "ab", length 6, one prefix: 2^6 = 64 codes in all.
    spec = {"alphabet": "ab", "length": 6, "prefix": unique_code("K") + "-"}
    full = admin.create_batch(64, max_redemptions=1, expires_at=FUTURE, **spec)
    assert admin.wait_for_batch(full.id, timeout=60, interval=0.05).created == 64
    one_more = admin.create_batch(1, max_redemptions=1, expires_at=FUTURE, **spec)
    with pytest.raises(BatchFailed) as failed:
        admin.wait_for_batch(one_more.id, timeout=60, interval=0.05)
    assert failed.value.batch_id == one_more.id
    assert failed.value.error is not None and "keyspace" in failed.value.error
    assert admin.get_batch(one_more.id).status == "failed"


def test_internal_error_from_a_failing_database_statement(
    database_and_server: tuple[str, Server], admin: VoucherClient
) -> None:
    """A write the database refuses in a way the service does not expect is a real 500."""
    url, _ = database_and_server
    code = admin.create_voucher(max_redemptions=5, expires_at=FUTURE).code
    # A trigger, added behind the service's back, makes every voucher update fail.
    database = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        database.execute(
            "CREATE TRIGGER refuse_updates BEFORE UPDATE ON vouchers "
            "BEGIN SELECT RAISE(ABORT, 'updates refused by the test'); END"
        )
        database.commit()
        with pytest.raises(InternalError) as broken:
            admin.update_voucher(code, max_redemptions=6)
    finally:
        database.execute("DROP TRIGGER IF EXISTS refuse_updates")
        database.commit()
        database.close()
    assert broken.value.status == 500
    assert broken.value.code == "internal_error"
    assert broken.value.request_id and broken.value.request_id in broken.value.detail
    assert "refused by the test" not in str(broken.value.body), "nothing leaks"
    assert admin.get_voucher(code).max_redemptions == 5
    assert admin.update_voucher(code, max_redemptions=6).max_redemptions == 6


def test_wait_timeout_on_a_large_batch(admin: VoucherClient) -> None:
    # Last in the module: the batch keeps running until the server stops.
    batch = admin.create_batch(300_000, max_redemptions=1, expires_at=FUTURE)
    with pytest.raises(WaitTimeout) as timed_out:
        admin.wait_for_batch(batch.id, timeout=0.2, interval=0.05)
    assert batch.id in str(timed_out.value)
    assert "of 300000 created" in str(timed_out.value)
    assert admin.get_batch(batch.id).status in ("pending", "running")
