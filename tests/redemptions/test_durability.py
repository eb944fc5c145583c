"""Restarts lose nothing; an unreachable database answers 503, never a hang or a trace."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support import Api, Server, assert_problem, free_port, ledger_sum, unique_code


def test_restart_loses_nothing(fresh_db: str, tmp_path: Path) -> None:
    server = Server(fresh_db, tmp_path / "data").start()
    api = Api(server.url)
    code = api.create_voucher(code=unique_code("KEEP"), max_redemptions=10)["code"]
    acknowledged = [api.redeem(code, quantity=2).json()["id"] for _ in range(3)]
    server.stop()

    restarted = Server(fresh_db, tmp_path / "data", port=server.port).start()
    try:
        api = Api(restarted.url)
        assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 6
        for redemption_id in acknowledged:
            assert api.get(f"/v1/redemptions/{redemption_id}").status_code == 200
        assert ledger_sum(api, code) == (6, 3)
    finally:
        restarted.stop()


def test_kill_9_loses_no_acknowledged_redemption(fresh_db: str, tmp_path: Path) -> None:
    server = Server(fresh_db, tmp_path / "data", workers=2).start()
    api = Api(server.url)
    code = api.create_voucher(code=unique_code("KILL"), max_redemptions=100)["code"]
    acknowledged = [api.redeem(code).json()["id"] for _ in range(20)]
    server.kill()

    restarted = Server(fresh_db, tmp_path / "data").start()
    try:
        api = Api(restarted.url)
        assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 20
        ledger_ids = {
            item["id"]
            for item in api.get(f"/v1/vouchers/{code}/redemptions", params={"limit": 100}).json()[
                "items"
            ]
        }
        assert ledger_ids == set(acknowledged)
    finally:
        restarted.stop()


def test_unreachable_database_is_503_with_retry_after(backend: str, tmp_path: Path) -> None:
    if backend == "postgres":
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    else:
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the database folder should be")
        url = f"sqlite:///{blocker / 'vouchers.db'}"
    server = Server(url, tmp_path / "data", env={"VOUCHERS_AUTO_MIGRATE": "false"}).start()
    try:
        public = Api(server.url, key=None)
        admin = Api(server.url)
        started = time.monotonic()
        for response in (
            public.redeem("ANY-CODE"),
            public.post("/v1/vouchers/ANY-CODE/validate"),
            admin.get("/v1/vouchers"),
            admin.post(
                "/v1/vouchers",
                {"code": unique_code(), "max_redemptions": 1, "expires_at": "2099-01-01"},
            ),
        ):
            problem = assert_problem(response, 503, "service_unavailable")
            assert int(response.headers["Retry-After"]) >= 1
            assert "Traceback" not in response.text and "SELECT" not in response.text
            assert problem["detail"]
        assert time.monotonic() - started < 30
        assert public.get("/healthz").status_code == 200
        assert public.get("/readyz").status_code == 503
    finally:
        server.stop()
