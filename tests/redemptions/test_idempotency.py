"""Idempotency keys: replay, reuse, concurrency, restarts, and every state-changing POST."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.support import Api, Server, assert_problem, ledger_sum, unique_code


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


def test_sixteen_concurrent_requests_with_one_key_apply_once(fresh_db: str, tmp_path: Path) -> None:
    server = Server(fresh_db, tmp_path / "data", workers=2).start()
    try:
        api = Api(server.url)
        code = api.create_voucher(code=unique_code("ONCE"), max_redemptions=100)["code"]
        url = f"{server.url}/v1/vouchers/{code}/redemptions"
        for _round in range(5):
            key = f"same-{uuid.uuid4()}"
            barrier = threading.Barrier(16)

            def send(_: int, key: str = key, barrier: threading.Barrier = barrier) -> tuple:
                barrier.wait()
                response = requests.post(
                    url, json={"quantity": 3}, headers={"Idempotency-Key": key}, timeout=60
                )
                return response.status_code, response.json()

            with ThreadPoolExecutor(16) as pool:
                results = list(pool.map(send, range(16)))
            statuses = Counter(status for status, _ in results)
            assert set(statuses) <= {201, 409}, results
            successes = {body["id"] for status, body in results if status == 201}
            assert len(successes) == 1, "every 201 is the same redemption"
            for status, body in results:
                if status == 409:
                    assert body["code"] == "idempotency_in_progress"
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
