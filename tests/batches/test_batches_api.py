"""Batch routes over HTTP: generation, uniqueness, collisions, keyspace guard, export, errors."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.support import Api, Server, assert_problem, fresh_database, unique_code

FUTURE = "2099-01-01T00:00:00Z"
DEFAULT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CSV_HEADER = ["code", "max_redemptions", "redeemed", "remaining", "expires_at", "status"]


def wait_for_batch(api: Api, batch_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll a batch until it is done or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = api.get(f"/v1/batches/{batch_id}").json()
        if batch["status"] in ("done", "failed"):
            return dict(batch)
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish in {timeout}s")


def create_batch(api: Api, **fields: Any) -> dict[str, Any]:
    """Create a batch (far expiry, one redemption each by default) and wait for it."""
    body = {"count": 10, "max_redemptions": 1, "expires_at": FUTURE, **fields}
    response = api.post("/v1/batches", body)
    assert response.status_code == 202, response.text
    return wait_for_batch(api, response.json()["id"])


def export_rows(api: Api, batch_id: str, **params: str) -> list[dict[str, str]]:
    """The batch's CSV export, parsed, after checking its header and type."""
    response = api.get(f"/v1/batches/{batch_id}/codes", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    reader = csv.reader(io.StringIO(response.text))
    assert next(reader) == CSV_HEADER
    return [dict(zip(CSV_HEADER, row, strict=True)) for row in reader]


def batch_vouchers(api: Api, batch_id: str) -> list[dict[str, Any]]:
    """Every voucher of a batch through GET /v1/vouchers?batch_id=, all pages."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"batch_id": batch_id, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/vouchers", params=params).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


# Tabs, newlines, backslashes, quotes and non-ASCII: COPY's escaping must keep them.
AWKWARD_METADATA = {"campaign": "spring", "note": 'a\tb\nc \\ "q" \u00fcn\u00efc\u00f8de \u2603'}


# 25 codes go in with one INSERT; 2,500 by COPY (the bulk path on PostgreSQL).
@pytest.mark.parametrize("count", [25, 2500])
def test_create_is_202_then_done_with_every_field(api: Api, count: int) -> None:
    body = {
        "count": count,
        "max_redemptions": 3,
        "expires_at": "2098-08-31",
        "starts_at": "2020-01-01T00:00:00Z",
        "per_customer_limit": 2,
        "metadata": AWKWARD_METADATA,
        "code": {"length": 16, "alphabet": "xyzXYZ789", "prefix": "sp-", "suffix": "_26"},
    }
    response = api.post("/v1/batches", body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["id"].startswith("bat_")
    assert response.headers["Location"] == f"/v1/batches/{accepted['id']}"
    assert accepted["status"] in ("pending", "running", "done")
    assert accepted["count"] == count
    assert accepted["code"] == {
        "length": 16,
        "alphabet": "XYZ789",
        "prefix": "sp-",
        "suffix": "_26",
    }
    assert accepted["expires_at"] == "2098-09-01T00:00:00Z"
    batch = wait_for_batch(api, accepted["id"])
    assert batch["status"] == "done", batch
    assert batch["created"] == count and batch["error"] is None
    finished = datetime.fromisoformat(batch["finished_at"])
    assert finished >= datetime.fromisoformat(batch["created_at"])
    vouchers = batch_vouchers(api, batch["id"])
    assert len(vouchers) == count
    for voucher in vouchers:
        assert re.fullmatch(r"sp-[XYZ789]{16}_26", voucher["code"]), voucher["code"]
        assert voucher["batch_id"] == batch["id"]
        assert voucher["max_redemptions"] == 3 and voucher["per_customer_limit"] == 2
        assert voucher["starts_at"] == "2020-01-01T00:00:00Z"
        assert voucher["expires_at"] == "2098-09-01T00:00:00Z"
        assert voucher["metadata"] == AWKWARD_METADATA
        assert voucher["status"] == "active"
        assert voucher["redeemed"] == 0 and voucher["disabled"] is False
    code = vouchers[0]["code"]
    redeem = api.post(f"/v1/vouchers/{code}/redemptions", {"quantity": 2, "customer_id": "c1"})
    assert redeem.status_code == 201 and redeem.json()["remaining"] == 1, redeem.text
    again = api.post(f"/v1/vouchers/{code}/redemptions", {"customer_id": "c1"})
    assert_problem(again, 409, "customer_limit_reached")


def test_codes_are_unique_and_use_the_default_alphabet(api: Api) -> None:
    batch = create_batch(api, count=3000)
    assert batch["status"] == "done" and batch["created"] == 3000
    assert batch["code"] == {"length": 12, "alphabet": DEFAULT_ALPHABET, "prefix": "", "suffix": ""}
    codes = [row["code"] for row in export_rows(api, batch["id"])]
    assert len(codes) == 3000
    assert len({code.upper() for code in codes}) == 3000
    assert all(re.fullmatch(f"[{DEFAULT_ALPHABET}]{{12}}", code) for code in codes)
    # Every symbol of the alphabet turns up (36,000 draws from 32 symbols).
    assert set("".join(codes)) == set(DEFAULT_ALPHABET)


def test_export_matches_the_vouchers_and_filters_by_status(api: Api) -> None:
    batch = create_batch(api, count=30, max_redemptions=2, code={"prefix": unique_code("EX")})
    vouchers = {voucher["code"]: voucher for voucher in batch_vouchers(api, batch["id"])}
    used, disabled, *_ = sorted(vouchers)
    assert api.redeem(used, quantity=2).status_code == 201
    assert api.patch(f"/v1/vouchers/{disabled}", {"disabled": True}).status_code == 200
    vouchers = {voucher["code"]: voucher for voucher in batch_vouchers(api, batch["id"])}

    rows = export_rows(api, batch["id"])
    assert len(rows) == 30
    for row in rows:
        voucher = vouchers[row["code"]]
        assert row == {
            "code": voucher["code"],
            "max_redemptions": str(voucher["max_redemptions"]),
            "redeemed": str(voucher["redeemed"]),
            "remaining": str(voucher["remaining"]),
            "expires_at": voucher["expires_at"],
            "status": voucher["status"],
        }
    assert [row["code"] for row in export_rows(api, batch["id"], status="exhausted")] == [used]
    assert [row["code"] for row in export_rows(api, batch["id"], status="disabled")] == [disabled]
    assert len(export_rows(api, batch["id"], status="active")) == 28
    assert export_rows(api, batch["id"], status="expired") == []


def test_export_rejects_an_unknown_status(api: Api) -> None:
    batch = create_batch(api, count=1)
    response = api.get(f"/v1/batches/{batch['id']}/codes", params={"status": "lost"})
    assert_problem(response, 422, "validation_error")


def test_unknown_batch_is_404(api: Api) -> None:
    assert_problem(api.get("/v1/batches/bat_nosuchbatch"), 404, "batch_not_found")
    assert_problem(api.get("/v1/batches/bat_nosuchbatch/codes"), 404, "batch_not_found")


def test_batch_routes_need_the_admin_key(public: Api, api: Api) -> None:
    batch = create_batch(api, count=1)
    body = {"count": 1, "max_redemptions": 1, "expires_at": FUTURE}
    assert_problem(public.post("/v1/batches", body), 401, "unauthorized")
    assert_problem(public.get(f"/v1/batches/{batch['id']}"), 401, "unauthorized")
    assert_problem(public.get(f"/v1/batches/{batch['id']}/codes"), 401, "unauthorized")


@pytest.mark.parametrize(
    "change",
    [
        {"count": 0},
        {"count": 10_000_001},
        {"count": "5"},
        {"count": 5.0},
        {"count": True},
        {"max_redemptions": 0},
        {"expires_at": "2020-01-01T00:00:00Z"},
        {"expires_at": "2098-01-01T00:00:00"},
        {"starts_at": "2098-02-01", "expires_at": "2098-01-01"},
        {"metadata": {"blob": "x" * 5000}},
        {"surprise": 1},
        {"code": {"length": 5}},
        {"code": {"length": 33}},
        {"code": {"length": 12.0}},
        {"code": {"alphabet": "A"}},
        {"code": {"alphabet": "aAaA"}},
        {"code": {"alphabet": "AB C"}},
        {"code": {"alphabet": "ÄBC"}},
        {"code": {"prefix": "no space"}},
        {"code": {"suffix": "a/b"}},
        {"code": {"prefix": "P" * 31, "length": 32, "suffix": "SS"}},
        {"code": {"unknown": 1}},
        {"code": "ABC"},
    ],
)
def test_bad_input_is_422(api: Api, change: dict[str, Any]) -> None:
    body: dict[str, Any] = {"count": 5, "max_redemptions": 1, "expires_at": FUTURE, **change}
    problem = assert_problem(api.post("/v1/batches", body), 422, "validation_error")
    assert problem["errors"] and all(error["field"] for error in problem["errors"])


def test_missing_count_is_422(api: Api) -> None:
    problem = assert_problem(
        api.post("/v1/batches", {"max_redemptions": 1, "expires_at": FUTURE}),
        422,
        "validation_error",
    )
    assert [error["field"] for error in problem["errors"]] == ["count"]


def test_keyspace_guard_at_its_boundary(api: Api) -> None:
    # 32^6 = 1,073,741,824 codes: 1,073 of them is just under one in a million.
    spec = {"length": 6, "prefix": unique_code("KS")}
    assert_problem(
        api.post(
            "/v1/batches",
            {"count": 1074, "max_redemptions": 1, "expires_at": FUTURE, "code": spec},
        ),
        422,
        "keyspace_too_small",
    )
    problem = assert_problem(
        api.post(
            "/v1/batches",
            {"count": 10, "max_redemptions": 1, "expires_at": FUTURE, "code": {"alphabet": "AB"}},
        ),
        422,
        "keyspace_too_small",
    )
    assert "longer codes" in problem["detail"]
    batch = create_batch(api, count=1073, code=spec)
    assert batch["status"] == "done" and batch["created"] == 1073


def test_idempotent_replay_creates_one_batch(api: Api) -> None:
    key = f"batch-{unique_code()}"
    prefix = unique_code("ID")
    body = {"count": 7, "max_redemptions": 1, "expires_at": FUTURE, "code": {"prefix": prefix}}
    first = api.post("/v1/batches", body, headers={"Idempotency-Key": key})
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    second = api.post("/v1/batches", body, headers={"Idempotency-Key": key})
    assert second.status_code == 202
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"]
    wait_for_batch(api, first.json()["id"])
    listed = api.get("/v1/vouchers", params={"prefix": prefix, "limit": 100}).json()["items"]
    assert len(listed) == 7
    reused = api.post("/v1/batches", {**body, "count": 8}, headers={"Idempotency-Key": key})
    assert_problem(reused, 422, "idempotency_key_reused")


@pytest.fixture(scope="module")
def tiny_keyspace_api(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server on a fresh database that allows any keyspace (guess probability up to 1)."""
    tmp_path = tmp_path_factory.mktemp(f"tiny-{backend}")
    with fresh_database(backend, tmp_path) as url:
        server = Server(url, tmp_path / "data", env={"VOUCHERS_MAX_GUESS_PROBABILITY": "1"})
        server.start()
        try:
            yield Api(server.url)
        finally:
            server.stop()


def test_collisions_are_retried_until_the_keyspace_is_full(tiny_keyspace_api: Api) -> None:
    api = tiny_keyspace_api
    # 2^6 = 64 codes X-AAAAAA..X-BBBBBB; one is taken (in another case) beforehand.
    api.create_voucher(code="x-abbaba")
    spec = {"alphabet": "ab", "length": 6, "prefix": "X-"}
    first = create_batch(api, count=60, code=spec)
    assert first["status"] == "done" and first["created"] == 60
    codes = [row["code"] for row in export_rows(api, first["id"])]
    assert len(set(codes)) == 60
    assert all(re.fullmatch("X-[AB]{6}", code) for code in codes)
    assert "X-ABBABA" not in codes

    second = create_batch(api, count=3, code=spec)
    assert second["status"] == "done" and second["created"] == 3
    codes += [row["code"] for row in export_rows(api, second["id"])]
    assert len(set(codes)) == 63

    third = create_batch(api, count=1, code=spec)
    assert third["status"] == "failed" and third["created"] == 0
    assert "keyspace" in third["error"] and "0 of 1" in third["error"]

    too_many = {"count": 65, "max_redemptions": 1, "expires_at": FUTURE, "code": spec}
    assert_problem(api.post("/v1/batches", too_many), 422, "keyspace_too_small")


def test_large_chunks_that_collide_are_redrawn(tiny_keyspace_api: Api) -> None:
    """Chunks of 1,000+ codes are written in one COPY; a clash falls back and redraws."""
    api = tiny_keyspace_api
    # 2^16 codes Y-AAAAAAAAAAAAAAAA..Y-BBBBBBBBBBBBBBBB. The first batch takes 3,000.
    # The second draws about 1,190 distinct codes for its first chunk (so it goes
    # the COPY way), of which about 54 are taken: the chance that none is, and
    # the fallback is not exercised, is below 1e-23.
    spec = {"alphabet": "ab", "length": 16, "prefix": "Y-"}
    first = create_batch(api, count=3000, code=spec)
    second = create_batch(api, count=1200, code=spec, max_redemptions=2)
    assert first["status"] == second["status"] == "done", (first, second)
    assert (first["created"], second["created"]) == (3000, 1200)
    first_rows = export_rows(api, first["id"])
    second_rows = export_rows(api, second["id"])
    codes = [row["code"] for row in first_rows + second_rows]
    assert len(codes) == len(set(codes)) == 4200
    assert all(re.fullmatch("Y-[AB]{16}", code) for code in codes)
    assert {row["max_redemptions"] for row in first_rows} == {"1"}
    assert {row["max_redemptions"] for row in second_rows} == {"2"}
    voucher = api.get(f"/v1/vouchers/{second_rows[0]['code'].lower()}").json()
    assert voucher["batch_id"] == second["id"] and voucher["status"] == "active"


def start_big_batch_and_wait_for_progress(api: Api) -> str:
    """Start a 2,000,000-code batch; return its id once a chunk is committed."""
    body = {"count": 2_000_000, "max_redemptions": 1, "expires_at": FUTURE}
    batch_id = str(api.post("/v1/batches", body).json()["id"])
    deadline = time.monotonic() + 60
    while (batch := api.get(f"/v1/batches/{batch_id}").json())["created"] == 0:
        assert batch["status"] in ("pending", "running"), batch
        assert time.monotonic() < deadline, "no chunk was committed in 60s"
        time.sleep(0.02)
    assert batch["status"] == "running"  # progress is visible while it runs
    return batch_id


def assert_interrupted(api: Api, batch_id: str, reason: str) -> None:
    """The batch ended failed with the reason and its count; its vouchers are all valid."""
    # PostgreSQL may take a moment to notice a killed client and drop its lock.
    deadline = time.monotonic() + 10
    while (batch := api.get(f"/v1/batches/{batch_id}").json())["status"] == "running":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    assert batch["status"] == "failed", batch
    created = batch["created"]
    assert 0 < created < 2_000_000
    assert batch["finished_at"] is not None
    assert batch["error"].startswith(f"{reason}; {created} of 2000000 codes were created")
    rows = export_rows(api, batch_id)
    assert len(rows) == created
    assert len({row["code"] for row in rows}) == created
    assert all(row["status"] == "active" and row["remaining"] == "1" for row in rows)
    code = rows[-1]["code"]
    assert api.get(f"/v1/vouchers/{code}").json()["batch_id"] == batch_id
    assert api.redeem(code).status_code == 201


def test_interrupted_batches_end_failed_and_their_codes_stay_valid(
    fresh_db: str, tmp_path: Any
) -> None:
    first = Server(fresh_db, tmp_path / "first").start()
    second = Server(fresh_db, tmp_path / "second")
    try:
        api = Api(first.url)
        other = Api(second.url)
        running = start_big_batch_and_wait_for_progress(api)
        # A server starting beside a live one leaves that one's batch alone...
        second.start()
        assert other.get(f"/v1/batches/{running}").json()["status"] == "running"
        # ...and fails it once its server is gone (kill -9), when someone looks.
        first.kill()
        assert_interrupted(other, running, "interrupted by a server stop or restart")

        # Graceful stop: the server marks its own batch failed on the way out.
        stopped = start_big_batch_and_wait_for_progress(other)
        second.stop()
        second.start()
        assert_interrupted(other, stopped, "interrupted by a server shutdown")

        # kill -9 and restart: the start-up finds the batch without its server.
        crashed = start_big_batch_and_wait_for_progress(other)
        second.kill()
        second.start()
        assert_interrupted(other, crashed, "interrupted by a server stop or restart")
    finally:
        first.stop()
        second.stop()
