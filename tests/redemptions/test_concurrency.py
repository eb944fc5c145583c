"""Many clients against a real server with two workers: the limit holds and the ledger agrees."""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import Api, Server, ledger_sum, unique_code

REQUESTS = 400
THREADS = 48


def _fire(url: str, bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Send every body concurrently from many threads; return (status, json) per request."""
    local = threading.local()

    def send(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.post(url, json=body, timeout=60)
        return response.status_code, response.json()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(send, bodies))


def _two_worker_server(fresh_db: str, tmp_path: Path, group_commit: bool = True) -> Server:
    env = {"VOUCHERS_GROUP_COMMIT": "true" if group_commit else "false"}
    return Server(fresh_db, tmp_path / "data", workers=2, env=env).start()


# group_commit=False is the one-transaction-per-request reference path.
@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-per-request"])
def test_limit_of_50_under_400_concurrent_redemptions(
    fresh_db: str, tmp_path: Path, group_commit: bool
) -> None:
    server = _two_worker_server(fresh_db, tmp_path, group_commit)
    try:
        api = Api(server.url)
        code = api.create_voucher(code=unique_code("HOT"), max_redemptions=50)["code"]
        results = _fire(f"{server.url}/v1/vouchers/{code}/redemptions", [{}] * REQUESTS)
        statuses = Counter(status for status, _ in results)
        assert statuses == {201: 50, 409: 350}, statuses
        assert {body["code"] for status, body in results if status == 409} == {"voucher_exhausted"}
        remainings = sorted(body["remaining"] for status, body in results if status == 201)
        assert remainings == list(range(50)), "each success saw a distinct remaining count"
        voucher = api.get(f"/v1/vouchers/{code}").json()
        assert voucher["redeemed"] == 50 and voucher["status"] == "exhausted"
        assert ledger_sum(api, code) == (50, 50)
        metrics = api.get("/metrics").text
        groups = {
            name: float(value)
            for name, value in re.findall(
                r"^vouchers_group_commit_size_(sum|count) (\S+)$", metrics, re.M
            )
        }
        if group_commit:
            assert groups["sum"] > groups["count"], f"no group held two redemptions: {groups}"
        else:
            assert groups["sum"] == groups["count"] == REQUESTS, f"not one per request: {groups}"
    finally:
        server.stop()


def test_mixed_quantities_and_up_to_never_overshoot(fresh_db: str, tmp_path: Path) -> None:
    """400 exact and up_to requests for 1-5 each drain a limit of 50 exactly, row for row."""
    server = _two_worker_server(fresh_db, tmp_path)
    try:
        api = Api(server.url)
        code = api.create_voucher(code=unique_code("MIX"), max_redemptions=50)["code"]
        rng = random.Random(7)
        bodies = [
            {"quantity": rng.randint(1, 5), "mode": rng.choice(["exact", "up_to"])}
            for _ in range(REQUESTS)
        ]
        results = _fire(f"{server.url}/v1/vouchers/{code}/redemptions", bodies)
        granted = 0
        successes = 0
        for body, (status, answer) in zip(bodies, results, strict=True):
            if status == 201:
                successes += 1
                granted += answer["quantity"]
                if body["mode"] == "exact":
                    assert answer["quantity"] == body["quantity"]
                else:
                    assert 1 <= answer["quantity"] <= body["quantity"]
            else:
                assert status == 409, answer
                allowed = {"voucher_exhausted", "insufficient_redemptions"}
                if body["mode"] == "up_to":
                    allowed = {"voucher_exhausted"}
                assert answer["code"] in allowed, (body, answer)
        # Demand (about 1,200) far exceeds 50: up_to requests drain the voucher exactly.
        assert granted == 50
        voucher = api.get(f"/v1/vouchers/{code}").json()
        assert voucher["redeemed"] == 50 and voucher["remaining"] == 0
        assert ledger_sum(api, code) == (50, successes), "one ledger row per 201, summing to 50"
    finally:
        server.stop()


def test_customer_limits_under_voucher_limit_pressure(fresh_db: str, tmp_path: Path) -> None:
    """3 customers x 40 requests on a limit of 12, 5 per customer: 12 granted, nobody over 5."""
    server = _two_worker_server(fresh_db, tmp_path)
    try:
        api = Api(server.url)
        code = api.create_voucher(
            code=unique_code("CUST"), max_redemptions=12, per_customer_limit=5
        )["code"]
        customers = ["alice", "bob", "carol"]
        bodies = [{"customer_id": customers[n % 3]} for n in range(40 * len(customers))]
        results = _fire(f"{server.url}/v1/vouchers/{code}/redemptions", bodies)
        granted: Counter[str] = Counter()
        for body, (status, answer) in zip(bodies, results, strict=True):
            if status == 201:
                assert answer["customer_id"] == body["customer_id"] and answer["quantity"] == 1
                granted[answer["customer_id"]] += 1
            else:
                assert status == 409, answer
                assert answer["code"] in {"voucher_exhausted", "customer_limit_reached"}, answer
        assert sum(granted.values()) == 12, granted
        assert max(granted.values()) <= 5, granted
        assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 12
        assert ledger_sum(api, code) == (12, 12)
        ledger = api.get(f"/v1/vouchers/{code}/redemptions", params={"limit": 100}).json()
        assert Counter(item["customer_id"] for item in ledger["items"]) == granted
    finally:
        server.stop()


def test_many_vouchers_at_once_stay_separate(fresh_db: str, tmp_path: Path) -> None:
    server = _two_worker_server(fresh_db, tmp_path)
    try:
        api = Api(server.url)
        codes = [api.create_voucher(max_redemptions=7)["code"] for _ in range(8)]
        bodies = [{"code": codes[n % len(codes)]} for n in range(REQUESTS)]
        local = threading.local()

        def send(body: dict[str, Any]) -> int:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            url = f"{server.url}/v1/vouchers/{body['code']}/redemptions"
            return session.post(url, json={}, timeout=60).status_code

        with ThreadPoolExecutor(THREADS) as pool:
            statuses = Counter(pool.map(send, bodies))
        assert statuses == {201: 7 * len(codes), 409: REQUESTS - 7 * len(codes)}
        for code in codes:
            assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 7
            assert ledger_sum(api, code) == (7, 7)
    finally:
        server.stop()
