"""The database goes away mid-load: 503 quickly, readiness says so, recovery is automatic."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import make_url

from tests.support import Api, Server, assert_problem, ledger_sum, unique_code
from tests.tcp_proxy import TcpProxy

CLIENTS = 8
DB_TIMEOUT = 3
# Slack for a loaded 2-core CI machine on top of the time a 503 may take by design.
MARGIN = 3


def _hammer(url: str, code: str, stop: threading.Event) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        while not stop.is_set():
            key = f"outage-{uuid.uuid4()}"
            started = time.monotonic()
            try:
                response = session.post(
                    f"{url}/v1/vouchers/{code}/redemptions",
                    json={},
                    headers={"Idempotency-Key": key},
                    timeout=30,
                )
            except requests.RequestException as error:
                raise AssertionError(f"the server must answer, not drop: {error}") from error
            with lock:
                results.append(
                    {
                        "key": key,
                        "status": response.status_code,
                        "body": response.json(),
                        "seconds": time.monotonic() - started,
                        "retry_after": response.headers.get("Retry-After"),
                    }
                )
            if response.status_code == 503:
                time.sleep(0.2)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(60)
    return results


def _outage_under_load(
    server: Server, code: str, cut: Any, restore: Any, check_ready: bool, within: float
) -> dict[str, Any]:
    public = Api(server.url, key=None)
    stop = threading.Event()
    collected: list[list[dict[str, Any]]] = []
    loader = threading.Thread(target=lambda: collected.append(_hammer(server.url, code, stop)))
    loader.start()
    time.sleep(1.5)
    cut()
    time.sleep(8.0)
    assert public.get("/healthz").status_code == 200
    if check_ready:
        assert public.get("/readyz").status_code == 503
    restore()
    recovered_at = time.monotonic() + 30
    while time.monotonic() < recovered_at:
        if public.get("/readyz").status_code == 200 and public.redeem(code).status_code == 201:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the server did not recover by itself within 30 seconds")
    time.sleep(1.0)
    stop.set()
    loader.join(90)
    results = collected[0]
    unavailable = [r for r in results if r["status"] == 503]
    assert unavailable, "the outage was seen by clients"
    for result in unavailable:
        assert_problem_body(result["body"], "service_unavailable")
        assert int(result["retry_after"]) >= 1
    slowest = max(result["seconds"] for result in unavailable)
    assert slowest < within, f"a 503 took {slowest:.1f}s, not within {within}s: a hang"
    assert {r["status"] for r in results} <= {201, 503}
    # Nothing half-applied: the counter equals the ledger, and every 201 is in it.
    admin = Api(server.url)
    voucher = admin.get(f"/v1/vouchers/{code}").json()
    assert voucher["redeemed"] == ledger_sum(admin, code)[0]
    for result in results:
        if result["status"] == 201:
            assert admin.get(f"/v1/redemptions/{result['body']['id']}").status_code == 200
    # A 503 is retried with its key: it runs afresh unless its commit had in fact landed.
    applied_anyway = 0
    for result in unavailable:
        retry = requests.post(
            f"{server.url}/v1/vouchers/{code}/redemptions",
            json={},
            headers={"Idempotency-Key": result["key"]},
            timeout=30,
        )
        assert retry.status_code == 201
        applied_anyway += retry.headers.get("Idempotent-Replayed") == "true"
    return {
        "requests": len(results),
        "answered_503": len(unavailable),
        "503_whose_commit_had_landed": applied_anyway,
        "slowest_503_seconds": round(slowest, 2),
    }


def assert_problem_body(body: dict[str, Any], code: str) -> None:
    """A problem document with this code."""
    assert body["code"] == code and body["type"] == f"/problems/{code}" and body["request_id"]


def test_postgres_connection_cut_mid_load(
    backend: str, fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend == "sqlite":
        _sqlite_locked_mid_load(fresh_db, tmp_path, capsys)
        return
    url = make_url(fresh_db)
    proxy = TcpProxy(url.port or 5432).start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    server = Server(
        through_proxy, tmp_path / "data", workers=2, env={"VOUCHERS_DB_TIMEOUT": str(DB_TIMEOUT)}
    )
    server.start()
    try:
        code = Api(server.url).create_voucher(code=unique_code("OUT"), max_redemptions=10**6)[
            "code"
        ]
        # The cut is seen at once (refused connections, reset sockets), at worst
        # after one database timeout (pool or connect).
        figures = _outage_under_load(
            server, code, proxy.stop, proxy.start, check_ready=True, within=DB_TIMEOUT + MARGIN
        )
        with capsys.disabled():
            print(f"\npostgres outage figures: {figures}")
    finally:
        server.stop()
        proxy.stop()


def _sqlite_locked_mid_load(
    fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite has no connection to cut: another process holding the write lock is its outage."""
    server = Server(
        fresh_db, tmp_path / "data", workers=2, env={"VOUCHERS_DB_TIMEOUT": str(DB_TIMEOUT)}
    )
    server.start()
    blocker = sqlite3.connect(make_url(fresh_db).database or "", isolation_level=None)
    try:
        code = Api(server.url).create_voucher(code=unique_code("LOCK"), max_redemptions=10**6)[
            "code"
        ]

        def lock() -> None:
            blocker.execute("BEGIN EXCLUSIVE")

        def unlock() -> None:
            blocker.execute("ROLLBACK")

        # One consumer per worker commits groups one after another; when a group
        # fails for want of the database, the requests queued behind it are
        # answered 503 at once, so none waits out a second busy timeout.
        figures = _outage_under_load(
            server, code, lock, unlock, check_ready=False, within=DB_TIMEOUT + MARGIN
        )
        with capsys.disabled():
            print(f"\nsqlite lock-out figures: {figures}")
        assert_problem(Api(server.url).get("/v1/vouchers/NOPE-1"), 404, "voucher_not_found")
    finally:
        blocker.close()
        server.stop()
