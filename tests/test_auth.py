"""Admin and redeem keys: 401, 403, the stored admin key, and the redeem key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.support import ADMIN_KEY, ROOT, Api, Server, assert_problem

REDEEM_KEY = "test-redeem-key-abcdef0123456789"


def test_redeem_key_gates_public_routes(fresh_db: str, tmp_path: Path) -> None:
    server = Server(fresh_db, tmp_path / "data", env={"VOUCHERS_REDEEM_KEY": REDEEM_KEY}).start()
    try:
        admin = Api(server.url)
        code = admin.create_voucher(max_redemptions=5)["code"]
        anonymous = Api(server.url, key=None)
        assert_problem(anonymous.redeem(code), 401, "unauthorized")
        assert_problem(anonymous.post(f"/v1/vouchers/{code}/validate"), 401, "unauthorized")
        redeemer = Api(server.url, key=REDEEM_KEY)
        assert redeemer.redeem(code).status_code == 201
        assert redeemer.post(f"/v1/vouchers/{code}/validate").status_code == 200
        assert admin.redeem(code).status_code == 201, "the admin key may redeem too"
        assert_problem(redeemer.get(f"/v1/vouchers/{code}"), 403, "forbidden")
        assert_problem(redeemer.post("/v1/vouchers", {}), 403, "forbidden")
        assert admin.get(f"/v1/vouchers/{code}").json()["redeemed"] == 2
    finally:
        server.stop()


def test_admin_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith("VOUCHERS_")}
    env |= {
        "VOUCHERS_DATA_DIR": str(data_dir),
        "VOUCHERS_DATABASE_URL": f"sqlite:///{tmp_path / 'keys.db'}",
    }
    probe = (
        "from vouchers.auth import load_keys; from vouchers.config import Settings; "
        "load_keys(Settings())"
    )
    first = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True
    )
    key_file = data_dir / "admin_key"
    key = key_file.read_text().strip()
    assert len(key) >= 32
    assert key in first.stderr, "the new key is printed once"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert key not in second.stderr and key not in second.stdout, "never printed again"
    assert key_file.read_text().strip() == key


def test_stored_admin_key_is_accepted(fresh_db: str, tmp_path: Path) -> None:
    server = Server(fresh_db, tmp_path / "data", env={"VOUCHERS_ADMIN_KEY": ""}).start()
    try:
        key = (tmp_path / "data" / "admin_key").read_text().strip()
        assert Api(server.url, key=key).get("/v1/vouchers").status_code == 200
        assert_problem(Api(server.url, key=ADMIN_KEY).get("/v1/vouchers"), 401, "unauthorized")
        assert key not in server.log().split("admin key:")[-1][len(key) + 1 :]
    finally:
        server.stop()


def test_weak_admin_key_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "VOUCHERS_ADMIN_KEY": "changeme", "VOUCHERS_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "vouchers.cli", "migrate"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "admin_key" in result.stderr
