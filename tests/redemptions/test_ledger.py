"""The ledger: paging, single redemptions, reversals (also concurrent), customer limits."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.support import ADMIN_KEY, Api, Server, assert_problem, ledger_sum, unique_code


def test_ledger_pages_newest_first(api: Api) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    ids = [api.redeem(code).json()["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"/v1/vouchers/{code}/redemptions", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert_problem(api.get(f"/v1/vouchers/{unique_code()}/redemptions"), 404, "voucher_not_found")
    assert_problem(
        api.get(f"/v1/vouchers/{code}/redemptions", params={"cursor": "nope"}),
        422,
        "validation_error",
    )


def test_get_redemption(api: Api) -> None:
    code = api.create_voucher()["code"]
    redemption = api.redeem(code, quantity=2, metadata={"order": 7}).json()
    assert api.get(f"/v1/redemptions/{redemption['id']}").json() == redemption
    assert_problem(api.get("/v1/redemptions/rdm_NOPE"), 404, "redemption_not_found")
    assert_problem(api.post("/v1/redemptions/rdm_NOPE/reversal"), 404, "redemption_not_found")


def test_reversal_restores_once(api: Api) -> None:
    code = api.create_voucher(max_redemptions=3)["code"]
    redemption = api.redeem(code, quantity=3).json()
    assert_problem(api.redeem(code), 409, "voucher_exhausted")
    reversed_once = api.post(f"/v1/redemptions/{redemption['id']}/reversal")
    assert reversed_once.status_code == 200
    body = reversed_once.json()
    assert body["reversed_at"] is not None and body["quantity"] == 3
    twice = api.post(f"/v1/redemptions/{redemption['id']}/reversal").json()
    assert twice == body
    voucher = api.get(f"/v1/vouchers/{code}").json()
    assert voucher["redeemed"] == 0 and voucher["status"] == "active"
    assert ledger_sum(api, code) == (0, 1)
    assert api.redeem(code, quantity=3).status_code == 201


def test_concurrent_reversals_restore_once(fresh_db: str, tmp_path: Path) -> None:
    server = Server(fresh_db, tmp_path / "data", workers=2).start()
    try:
        api = Api(server.url)
        code = api.create_voucher(code=unique_code("REV"), max_redemptions=10)["code"]
        redemptions = [api.redeem(code, quantity=2).json()["id"] for _ in range(4)]
        barrier = threading.Barrier(24)

        def reverse(n: int) -> int:
            barrier.wait()
            response = requests.post(
                f"{server.url}/v1/redemptions/{redemptions[n % 4]}/reversal",
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                timeout=60,
            )
            return response.status_code

        with ThreadPoolExecutor(24) as pool:
            assert Counter(pool.map(reverse, range(24))) == {200: 24}
        assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 0
        assert ledger_sum(api, code) == (0, 4)
    finally:
        server.stop()


def test_customer_limit_and_reversal_gives_share_back(api: Api) -> None:
    code = api.create_voucher(max_redemptions=10, per_customer_limit=2)["code"]
    assert_problem(api.redeem(code), 422, "validation_error")
    first = api.redeem(code, customer_id="alice").json()
    assert first["customer_id"] == "alice"
    problem = assert_problem(
        api.redeem(code, customer_id="alice", quantity=2), 409, "customer_limit_reached"
    )
    assert problem["customer_remaining"] == 1
    up_to = api.redeem(code, customer_id="alice", quantity=2, mode="up_to").json()
    assert up_to["quantity"] == 1
    problem = assert_problem(api.redeem(code, customer_id="alice"), 409, "customer_limit_reached")
    assert problem["customer_remaining"] == 0
    assert api.redeem(code, customer_id="bob", quantity=2).status_code == 201
    validation = api.post(f"/v1/vouchers/{code}/validate", {"customer_id": "alice"}).json()
    assert validation["valid"] is False and validation["code"] == "customer_limit_reached"
    api.post(f"/v1/redemptions/{first['id']}/reversal")
    assert api.redeem(code, customer_id="alice").status_code == 201


def test_forty_concurrent_requests_for_one_customer(fresh_db: str, tmp_path: Path) -> None:
    server = Server(fresh_db, tmp_path / "data", workers=2).start()
    try:
        api = Api(server.url)
        code = api.create_voucher(
            code=unique_code("CUST"), max_redemptions=100, per_customer_limit=5
        )["code"]
        barrier = threading.Barrier(40)

        def send(_: int) -> tuple[int, str]:
            barrier.wait()
            response = requests.post(
                f"{server.url}/v1/vouchers/{code}/redemptions",
                json={"customer_id": "carol"},
                timeout=60,
            )
            body = response.json()
            return response.status_code, body["code"] if response.status_code != 201 else ""

        with ThreadPoolExecutor(40) as pool:
            results = Counter(pool.map(send, range(40)))
        assert results == {(201, ""): 5, (409, "customer_limit_reached"): 35}, results
        assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 5
        assert ledger_sum(api, code) == (5, 5)
    finally:
        server.stop()
