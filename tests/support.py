"""Test support: real server processes, fresh databases, and an HTTP helper."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from vouchers.app import create_app
from vouchers.config import Settings

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "test-admin-key-0123456789abcdef"
POSTGRES_ENV = "VOUCHERS_TEST_POSTGRES_URL"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_url() -> str | None:
    """The PostgreSQL server the tests may create databases on, if any."""
    return os.environ.get(POSTGRES_ENV) or None


async def _admin_execute(statement: str) -> None:
    import asyncpg

    url = make_url(postgres_url() or "")
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _run_admin(statement: str) -> None:
    """Run one admin statement, even while this thread runs an event loop.

    Playwright's sync API keeps an event loop running in the main thread while
    a browser is open, and asyncio.run refuses to nest in it: use a thread then.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_admin_execute(statement))
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(_admin_execute(statement))).result()


def create_postgres_database() -> str:
    """Create an empty database on the test PostgreSQL server; return its URL."""
    name = f"vouchers_test_{secrets.token_hex(6)}"
    _run_admin(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_url() or "").set(database=name)
    return url.render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop a database made by create_postgres_database."""
    name = make_url(url).database
    _run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of this backend, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'vouchers-{secrets.token_hex(4)}.db'}"
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def in_process_app(database_url: str, data_dir: Path, **settings: Any) -> FastAPI:
    """The real app with the tests' admin key, to run in this process (under a TestClient)."""
    return create_app(
        Settings(database_url=database_url, admin_key=ADMIN_KEY, data_dir=data_dir, **settings)
    )


def wait_until_healthy(
    process: subprocess.Popen[bytes], url: str, timeout: float, log: Callable[[], str]
) -> None:
    """Wait until the server at ``url`` answers /healthz; RuntimeError if it exits or is late."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start in {timeout}s:\n{log()}")


def stop_process_group(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0
) -> None:
    """Signal a server started in its own session (and its workers); kill it if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Server:
    """A real `vouchers serve` process."""

    database_url: str
    data_dir: Path
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        """Start the server and wait until it answers /healthz."""
        env = {
            **os.environ,
            "VOUCHERS_DATABASE_URL": self.database_url,
            "VOUCHERS_DATA_DIR": str(self.data_dir),
            "VOUCHERS_ADMIN_KEY": ADMIN_KEY,
            **self.env,
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"server-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "vouchers.cli",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until_healthy(self.process, self.url, timeout, self.log)
        except RuntimeError:
            self.stop()
            raise
        # With several workers, give each a moment to finish its start-up.
        if self.workers > 1:
            time.sleep(1.0)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop the server (and its workers) and wait for it."""
        if self.process is not None:
            stop_process_group(self.process, sig, timeout)

    def kill(self) -> None:
        """kill -9 the server and every worker at once."""
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        """What the server printed."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""


class Api:
    """A thin requests wrapper: base URL, optional key, JSON in and out."""

    def __init__(self, base_url: str, key: str | None = ADMIN_KEY) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request, with a timeout."""
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        """POST a JSON body."""
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        """PATCH a JSON body."""
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        """DELETE."""
        return self.request("DELETE", path, **kwargs)

    def create_voucher(self, **fields: Any) -> dict[str, Any]:
        """Create a voucher (unique code, far expiry by default) and return it."""
        body = {
            "code": unique_code(),
            "max_redemptions": 10,
            "expires_at": "2099-01-01T00:00:00Z",
            **fields,
        }
        response = self.post("/v1/vouchers", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def redeem(self, code: str, **body: Any) -> requests.Response:
        """Redeem a voucher."""
        return self.post(f"/v1/vouchers/{code}/redemptions", body)


def unique_code(prefix: str = "T") -> str:
    """A code no other test uses."""
    return f"{prefix}-{secrets.token_hex(6).upper()}"


def assert_problem(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with this status and code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"/problems/{code}"
    assert body["detail"] and body["title"] and body["request_id"]
    return body


def ledger_sum(api: Api, code: str) -> tuple[int, int]:
    """(sum of unreversed ledger quantities, number of ledger rows) of a voucher."""
    total = 0
    rows = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"/v1/vouchers/{code}/redemptions", params=params).json()
        for item in page["items"]:
            rows += 1
            if item["reversed_at"] is None:
                total += item["quantity"]
        cursor = page["next_cursor"]
        if not cursor:
            return total, rows
