"""Idempotency keys: replay, reuse, concurrency, restarts, and every state-changing POST."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import (
    ADMIN_KEY,
    Api,
    Server,
    assert_problem,
    in_process_app,
    ledger_sum,
    unique_code,
)
from vouchers import clock
from vouchers.db import Database
from vouchers.redemptions.tables import idempotency_keys


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-{uuid.uuid4()}"}


def test_redeem_replay_returns_the_stored_answer(api: Api) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    headers = _key()
    first = api.post(f"/v1/vouchers/{code}/redemptions", {"quantity": 2}, headers=headers)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = api.post(f"/v1/vouchers/{code.lower()}/redemptions", {"quantity": 2}, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ledger_sum(api, code) == (2, 1)


def test_same_key_other_request_is_422(api: Api) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    headers = _key()
    assert api.post(f"/v1/vouchers/{code}/redemptions", {"quantity": 1}, headers=headers).ok
    reused = api.post(f"/v1/vouchers/{code}/redemptions", {"quantity": 2}, headers=headers)
    assert_problem(reused, 422, "idempotency_key_reused")
    assert ledger_sum(api, code) == (1, 1)


def test_business_rejection_is_stored_and_replayed(api: Api) -> None:
    code = api.create_voucher(max_redemptions=1)["code"]
    api.redeem(code)
    headers = _key()
    first = api.post(f"/v1/vouchers/{code}/redemptions", {}, headers=headers)
    assert_problem(first, 409, "voucher_exhausted")
    api.patch(f"/v1/vouchers/{code}", {"max_redemptions": 10})
    replay = api.post(f"/v1/vouchers/{code}/redemptions", {}, headers=headers)
    assert_problem(replay, 409, "voucher_exhausted")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 1


def test_validation_error_is_not_stored(api: Api) -> None:
    code = api.create_voucher(max_redemptions=3)["code"]
    headers = _key()
    bad = api.post(f"/v1/vouchers/{code}/redemptions", {"quantity": 0}, headers=headers)
    assert_problem(bad, 422, "validation_error")
    good = api.post(f"/v1/vouchers/{code}/redemptions", {"quantity": 1}, headers=headers)
    assert good.status_code == 201 and "Idempotent-Replayed" not in good.headers


def test_bad_key_is_422(api: Api) -> None:
    code = api.create_voucher()["code"]
    for key in ["", "x" * 256, "naïve"]:
        response = api.request(
            "POST",
            f"/v1/vouchers/{code}/redemptions",
            json={},
            headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")},
        )
        assert_problem(response, 422, "validation_error")
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 0


def test_create_voucher_is_idempotent(api: Api) -> None:
    headers = _key()
    body = {"max_redemptions": 3, "expires_at": "2099-01-01"}
    first = api.post("/v1/vouchers", body, headers=headers)
    again = api.post("/v1/vouchers", body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["code"] == first.json()["code"], "the generated code is not made twice"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_code_taken_is_stored(api: Api) -> None:
    code = api.create_voucher()["code"]
    headers = _key()
    body = {"code": code, "max_redemptions": 3, "expires_at": "2099-01-01"}
    assert_problem(api.post("/v1/vouchers", body, headers=headers), 409, "code_taken")
    replay = api.post("/v1/vouchers", body, headers=headers)
    assert_problem(replay, 409, "code_taken")
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_reversal_with_key_replays(api: Api) -> None:
    code = api.create_voucher(max_redemptions=3)["code"]
    redemption = api.redeem(code, quantity=2).json()
    headers = _key()
    path = f"/v1/redemptions/{redemption['id']}/reversal"
    first = api.post(path, headers=headers)
    again = api.post(path, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 0


def test_sixteen_concurrent_requests_with_one_key_apply_once(
    backend: str, fresh_db: str, tmp_path: Path
) -> None:
    """Same-key requests at once: one effect; SQLite queues them, PostgreSQL may answer 409."""
    server = Server(fresh_db, tmp_path / "data", workers=2).start()
    try:
        api = Api(server.url)
        code = api.create_voucher(code=unique_code("ONCE"), max_redemptions=100)["code"]
        url = f"{server.url}/v1/vouchers/{code}/redemptions"
        for _round in range(5):
            key = f"same-{uuid.uuid4()}"
            barrier = threading.Barrier(16)

            def send(
                _: int, key: str = key, barrier: threading.Barrier = barrier
            ) -> tuple[int, dict[str, Any], str | None]:
                barrier.wait()
                response = requests.post(
                    url, json={"quantity": 3}, headers={"Idempotency-Key": key}, timeout=60
                )
                replayed = response.headers.get("Idempotent-Replayed")
                return response.status_code, response.json(), replayed

            with ThreadPoolExecutor(16) as pool:
                results = list(pool.map(send, range(16)))
            statuses = Counter(status for status, _, _ in results)
            assert set(statuses) <= {201, 409}, results
            successes = {body["id"] for status, body, _ in results if status == 201}
            assert len(successes) == 1, "every 201 is the same redemption"
            flags = sorted(str(replayed) for status, _, replayed in results if status == 201)
            assert flags == ["None"] + ["true"] * (statuses[201] - 1), "one ran, the rest replay"
            for status, body, _ in results:
                if status == 409:
                    assert body["code"] == "idempotency_in_progress"
            if backend == "sqlite":
                # BEGIN IMMEDIATE serialises writers: later requests wait, then replay.
                assert statuses == {201: 16}, results
        assert ledger_sum(api, code) == (15, 5)
        assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 15
    finally:
        server.stop()


def test_key_survives_a_restart(fresh_db: str, tmp_path: Path) -> None:
    server = Server(fresh_db, tmp_path / "data").start()
    api = Api(server.url)
    code = api.create_voucher(code=unique_code("RST"), max_redemptions=5)["code"]
    headers = _key()
    first = api.post(f"/v1/vouchers/{code}/redemptions", {"quantity": 2}, headers=headers)
    server.stop()
    restarted = Server(fresh_db, tmp_path / "data", port=server.port).start()
    try:
        api = Api(restarted.url)
        again = api.post(f"/v1/vouchers/{code}/redemptions", {"quantity": 2}, headers=headers)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 2
    finally:
        restarted.stop()


async def _stored_keys(database: Database) -> set[str]:
    async with database.read() as connection:
        return set((await connection.execute(select(idempotency_keys.c.key))).scalars())


def _wait_until_forgotten(client: TestClient, app: FastAPI, key: str) -> set[str]:
    """Wait for the purge round the app runs at start to forget ``key``; return what is left."""
    deadline = time.monotonic() + 20
    while True:
        stored = client.portal.call(_stored_keys, app.state.database)  # type: ignore[union-attr]
        if key not in stored:
            return stored
        assert time.monotonic() < deadline, f"the purge never forgot {key}"
        time.sleep(0.05)


def test_keys_are_kept_for_24_hours_then_purged(fresh_db: str, tmp_path: Path) -> None:
    """A key is replayed 23 hours on, even after a purge round; at 25 hours it runs afresh."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    key, older = f"kept-{uuid.uuid4()}", f"older-{uuid.uuid4()}"
    path = ""
    try:
        with TestClient(in_process_app(fresh_db, tmp_path / "data"), headers=headers) as client:
            clock.set_offset(timedelta(hours=-2))
            code = client.post(
                "/v1/vouchers", json={"max_redemptions": 10, "expires_at": "2099-01-01"}
            ).json()["code"]
            path = f"/v1/vouchers/{code}/redemptions"
            # Stored two hours earlier: the sign that a purge round at +23h has run.
            assert client.post(path, json={}, headers={"Idempotency-Key": older}).status_code == 201
            clock.set_offset(timedelta(0))
            first = client.post(path, json={"quantity": 2}, headers={"Idempotency-Key": key})
            assert first.status_code == 201

        clock.set_offset(timedelta(hours=23))
        app = in_process_app(fresh_db, tmp_path / "data")
        with TestClient(app, headers=headers) as client:
            assert key in _wait_until_forgotten(client, app, older)
            replay = client.post(path, json={"quantity": 2}, headers={"Idempotency-Key": key})
            assert replay.status_code == 201
            assert replay.headers["Idempotent-Replayed"] == "true"
            assert replay.json() == first.json()

        clock.set_offset(timedelta(hours=25))
        app = in_process_app(fresh_db, tmp_path / "data")
        with TestClient(app, headers=headers) as client:
            _wait_until_forgotten(client, app, key)
            fresh = client.post(path, json={"quantity": 2}, headers={"Idempotency-Key": key})
            assert fresh.status_code == 201, fresh.text
            assert "Idempotent-Replayed" not in fresh.headers
            assert fresh.json()["id"] != first.json()["id"], "the request ran again"
            assert client.get(f"/v1/vouchers/{code}").json()["redeemed"] == 1 + 2 + 2
    finally:
        clock.set_offset(timedelta(0))
