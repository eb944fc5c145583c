"""Guessing protection: failed look-ups per address, in memory and through Redis."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest
import requests

from tests.support import Api, Server, assert_problem, free_port, unique_code

REDIS_ENV = "VOUCHERS_TEST_REDIS_URL"


def _limited_server(fresh_db: str, data_dir: Path, window: int = 3, **env: str) -> Server:
    settings = {"VOUCHERS_LOOKUP_LIMIT": "3", "VOUCHERS_LOOKUP_WINDOW": str(window), **env}
    return Server(fresh_db, data_dir, env=settings).start()


def _redeem_as(api: Api, forwarded_for: str) -> requests.Response:
    return api.post(
        f"/v1/vouchers/{unique_code()}/redemptions", {}, headers={"X-Forwarded-For": forwarded_for}
    )


def _ensure_room_in_window(window: int, seconds: float) -> None:
    """Wait for a fresh window unless this one has ``seconds`` left."""
    if window - (time.time() % window) < seconds:
        _wait_for_window_start(window)


def _wait_for_window_start(window: int = 3) -> None:
    """Start at the beginning of a window so a test's requests share one window."""
    time.sleep(window - (time.time() % window) + 0.05)


def test_unknown_codes_get_an_address_blocked_for_everything(fresh_db: str, tmp_path: Path) -> None:
    server = _limited_server(fresh_db, tmp_path / "data")
    try:
        admin = Api(server.url)
        real = admin.create_voucher(max_redemptions=10)["code"]
        public = Api(server.url, key=None)
        _wait_for_window_start()
        for _ in range(2):
            assert_problem(public.redeem(unique_code()), 404, "voucher_not_found")
        assert public.post(f"/v1/vouchers/{unique_code()}/validate").json()["valid"] is False
        blocked = public.redeem(real)
        problem = assert_problem(blocked, 429, "rate_limited")
        assert 1 <= int(blocked.headers["Retry-After"]) <= 3
        assert problem["detail"]
        assert_problem(public.post(f"/v1/vouchers/{real}/validate"), 429, "rate_limited")
        assert admin.get(f"/v1/vouchers/{real}").json()["redeemed"] == 0
        assert admin.get("/v1/vouchers").status_code == 200, "admin routes are not limited"
        time.sleep(int(blocked.headers["Retry-After"]) + 0.2)
        assert public.redeem(real).status_code == 201, "the window passed"
    finally:
        server.stop()


def test_successes_do_not_count(fresh_db: str, tmp_path: Path) -> None:
    server = _limited_server(fresh_db, tmp_path / "data")
    try:
        code = Api(server.url).create_voucher(max_redemptions=20)["code"]
        public = Api(server.url, key=None)
        _wait_for_window_start()
        assert all(public.redeem(code).status_code == 201 for _ in range(10))
    finally:
        server.stop()


def test_forwarded_for_is_trusted_only_from_listed_proxies(fresh_db: str, tmp_path: Path) -> None:
    trusting = _limited_server(
        fresh_db, tmp_path / "a", window=20, VOUCHERS_TRUSTED_PROXIES='["127.0.0.1/32"]'
    )
    untrusting = _limited_server(fresh_db, tmp_path / "b", window=20)
    try:
        _ensure_room_in_window(20, seconds=8)
        trusted_api = Api(trusting.url, key=None)
        for _ in range(3):
            assert _redeem_as(trusted_api, "203.0.113.7").status_code == 404
        assert_problem(_redeem_as(trusted_api, "203.0.113.7"), 429, "rate_limited")
        # The right-most untrusted hop is the client: an address it prepends changes nothing.
        spoofed = _redeem_as(trusted_api, "198.18.0.1, 203.0.113.7")
        assert_problem(spoofed, 429, "rate_limited")
        other = _redeem_as(trusted_api, "10.9.8.7, 203.0.113.8")
        assert other.status_code == 404, "another client behind the proxy has its own budget"

        plain = Api(untrusting.url, key=None)
        for n in range(3):
            assert _redeem_as(plain, f"198.51.100.{n}").status_code == 404
        assert_problem(_redeem_as(plain, "198.51.100.99"), 429, "rate_limited")
    finally:
        trusting.stop()
        untrusting.stop()


def test_two_servers_share_one_budget_through_redis(fresh_db: str, tmp_path: Path) -> None:
    redis_url = os.environ.get(REDIS_ENV)
    if not redis_url:
        pytest.skip(f"set {REDIS_ENV} to run the shared rate limit test")
    env = {"VOUCHERS_REDIS_URL": redis_url, "VOUCHERS_REDIS_PREFIX": f"t{secrets.token_hex(4)}"}
    first = _limited_server(fresh_db, tmp_path / "a", window=20, **env)
    second = _limited_server(fresh_db, tmp_path / "b", window=20, **env)
    try:
        _ensure_room_in_window(20, seconds=8)
        one, two = Api(first.url, key=None), Api(second.url, key=None)
        assert one.redeem(unique_code()).status_code == 404
        assert two.redeem(unique_code()).status_code == 404
        assert one.redeem(unique_code()).status_code == 404
        assert_problem(two.redeem(unique_code()), 429, "rate_limited")
        assert_problem(one.redeem(unique_code()), 429, "rate_limited")
    finally:
        first.stop()
        second.stop()


def test_redis_down_fails_open(fresh_db: str, tmp_path: Path) -> None:
    """With Redis unreachable the service still answers; look-ups are just not limited."""
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    server = _limited_server(
        fresh_db,
        tmp_path / "data",
        window=600,
        VOUCHERS_LOOKUP_LIMIT="1",
        VOUCHERS_REDIS_URL=unreachable,
    )
    try:
        code = Api(server.url).create_voucher(max_redemptions=5)["code"]
        public = Api(server.url, key=None)
        for _ in range(3):
            assert_problem(public.redeem(unique_code()), 404, "voucher_not_found")
        assert public.redeem(code).status_code == 201
        assert "Redis unavailable" in server.log()
    finally:
        server.stop()
