"""kill -9 and SIGTERM in the middle of load: nothing acknowledged is lost or applied twice."""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support import Api, Server, ledger_sum, unique_code

CLIENTS = 24


@dataclass
class Attempt:
    """One keyed redemption and what the client saw of it."""

    key: str
    code: str
    body: dict[str, Any]
    status: int | None = None
    answer: dict[str, Any] | None = None


def _load(url: str, codes: list[str], stop: threading.Event) -> list[Attempt]:
    """Many clients redeeming with idempotency keys until told to stop or the server dies."""
    attempts: list[Attempt] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not stop.is_set():
            attempt = Attempt(
                key=f"crash-{uuid.uuid4()}",
                code=rng.choice(codes),
                body={"quantity": rng.randint(1, 3), "mode": rng.choice(["exact", "up_to"])},
            )
            with lock:
                attempts.append(attempt)
            try:
                response = session.post(
                    f"{url}/v1/vouchers/{attempt.code}/redemptions",
                    json=attempt.body,
                    headers={"Idempotency-Key": attempt.key},
                    timeout=10,
                )
            except requests.RequestException:
                time.sleep(0.05)
                continue
            attempt.status, attempt.answer = response.status_code, response.json()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(30)
    return attempts


def _crash_under_load(
    fresh_db: str, tmp_path: Path, sig: int
) -> tuple[Server, list[Attempt], list[str]]:
    server = Server(fresh_db, tmp_path / "data", workers=2).start()
    api = Api(server.url)
    codes = [
        api.create_voucher(code=unique_code("BIG"), max_redemptions=1_000_000)["code"],
        api.create_voucher(code=unique_code("SMALL"), max_redemptions=150)["code"],
    ]
    stop = threading.Event()
    collected: list[list[Attempt]] = []
    loader = threading.Thread(target=lambda: collected.append(_load(server.url, codes, stop)))
    loader.start()
    time.sleep(2.0)
    server.stop(sig)
    time.sleep(0.5)
    stop.set()
    loader.join(60)
    restarted = Server(fresh_db, tmp_path / "data", workers=2, port=server.port).start()
    return restarted, collected[0], codes


def _check_recovery(server: Server, attempts: list[Attempt], codes: list[str]) -> dict[str, int]:
    api = Api(server.url)
    acknowledged = [a for a in attempts if a.status is not None]
    assert len(acknowledged) >= 50, "the load produced real traffic before the crash"
    for attempt in acknowledged:
        assert attempt.status in (201, 409), attempt
        if attempt.status == 201 and attempt.answer:
            stored = api.get(f"/v1/redemptions/{attempt.answer['id']}")
            assert stored.status_code == 200, f"acknowledged redemption lost: {attempt}"
    figures = {"attempts": len(attempts), "acknowledged": len(acknowledged), "replayed": 0}
    for attempt in attempts:
        retry = requests.post(
            f"{server.url}/v1/vouchers/{attempt.code}/redemptions",
            json=attempt.body,
            headers={"Idempotency-Key": attempt.key},
            timeout=30,
        )
        if attempt.status is not None:
            assert retry.status_code == attempt.status, (attempt, retry.text)
            assert retry.json() == attempt.answer, "a retry returns exactly the acknowledged answer"
            assert retry.headers.get("Idempotent-Replayed") == "true"
        figures["replayed"] += retry.headers.get("Idempotent-Replayed") == "true"
    for code in codes:
        voucher = api.get(f"/v1/vouchers/{code}").json()
        total, _rows = ledger_sum(api, code)
        assert voucher["redeemed"] == total, "the counter equals the ledger"
        assert voucher["redeemed"] <= voucher["max_redemptions"]
    return figures


def test_kill_9_under_load_loses_nothing_acknowledged(fresh_db: str, tmp_path: Path) -> None:
    server, attempts, codes = _crash_under_load(fresh_db, tmp_path, signal.SIGKILL)
    try:
        figures = _check_recovery(server, attempts, codes)
        print(f"kill -9 figures: {figures}")
    finally:
        server.stop()


def test_sigterm_under_load_finishes_in_flight_requests(fresh_db: str, tmp_path: Path) -> None:
    server, attempts, codes = _crash_under_load(fresh_db, tmp_path, signal.SIGTERM)
    try:
        figures = _check_recovery(server, attempts, codes)
        print(f"SIGTERM figures: {figures}")
    finally:
        server.stop()
