"""A fresh start with no settings: `vouchers serve` and `uvicorn server:app` in an empty dir."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import (
    ROOT,
    Api,
    assert_problem,
    free_port,
    stop_process_group,
    wait_until_healthy,
)

BIN = Path(sys.executable).parent
REDEEM_KEY = "fresh-redeem-key-0123456789abcdef"
PRINTED_KEY = re.compile(r"admin key: (\S+)")


def _bare_environment() -> dict[str, str]:
    """This process's environment without a single VOUCHERS_* setting."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("VOUCHERS_") and name != "PROMETHEUS_MULTIPROC_DIR"
    }


@contextmanager
def _running(command: list[str], cwd: Path, log_path: Path) -> Iterator[str]:
    """Run a server command in ``cwd`` until it answers /healthz; yield its URL; stop it."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=cwd,
            env=_bare_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, url, 30, log_path.read_text)
        yield url
    finally:
        stop_process_group(process)


def _printed_keys(log_path: Path) -> list[str]:
    return PRINTED_KEY.findall(log_path.read_text(errors="replace"))


def test_vouchers_serve_with_no_settings_makes_its_data_dir_and_key(tmp_path: Path) -> None:
    """Database and 0600 key appear in ./data; the key is printed once and survives restarts."""
    serve = [str(BIN / "vouchers"), "serve"]
    with _running(serve, tmp_path, tmp_path / "first.log") as url:
        key_file = tmp_path / "data" / "admin_key"
        assert (tmp_path / "data" / "vouchers.db").is_file()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        assert _printed_keys(tmp_path / "first.log") == [key], "printed exactly once"
        admin = Api(url, key=key)
        code = admin.create_voucher(max_redemptions=3)["code"]
        assert_problem(Api(url, key=None).get("/v1/vouchers"), 401, "unauthorized")

    with _running(serve, tmp_path, tmp_path / "second.log") as url:
        log = (tmp_path / "second.log").read_text(errors="replace")
        assert key not in log and not _printed_keys(tmp_path / "second.log")
        assert key_file.read_text().strip() == key
        assert Api(url, key=key).get(f"/v1/vouchers/{code}").status_code == 200, "same key, same db"
        assert Api(url, key=None).redeem(code).status_code == 201, "public by default"

    (tmp_path / ".env").write_text(f"VOUCHERS_REDEEM_KEY={REDEEM_KEY}\n")
    with _running(serve, tmp_path, tmp_path / "third.log") as url:
        assert_problem(Api(url, key=None).redeem(code), 401, "unauthorized")
        assert Api(url, key=REDEEM_KEY).redeem(code).status_code == 201, "the .env was read"
        assert Api(url, key=key).get(f"/v1/vouchers/{code}").json()["redeemed"] == 2


def test_uvicorn_server_app_starts_with_no_settings(tmp_path: Path) -> None:
    """The prototype's `uvicorn server:app` entry point still serves from an empty directory."""
    shutil.copy(ROOT / "server.py", tmp_path / "server.py")
    with _running([str(BIN / "uvicorn"), "server:app"], tmp_path, tmp_path / "uvicorn.log") as url:
        key = (tmp_path / "data" / "admin_key").read_text().strip()
        assert _printed_keys(tmp_path / "uvicorn.log") == [key]
        assert (tmp_path / "data" / "vouchers.db").is_file()
        assert Api(url, key=key).get("/v1/vouchers").status_code == 200
