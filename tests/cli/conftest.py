"""Fixtures of the command-line tests: one SQLite server and a way to run `vouchers`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ADMIN_KEY, ROOT, Server, fresh_database


@pytest.fixture(scope="session")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A SQLite server for the command-line tests (the CLI does not depend on the backend)."""
    tmp_path = tmp_path_factory.mktemp("cli-server")
    with fresh_database("sqlite", tmp_path) as url:
        running = Server(url, tmp_path / "data").start()
        try:
            yield running
        finally:
            running.stop()


# The console script `pip install -e .` put beside this Python: what users run.
SCRIPT = Path(sys.executable).parent / "vouchers"


@dataclass
class Vouchers:
    """Runs the installed `vouchers` command against a server, as a user's shell would."""

    url: str
    cwd: Path

    def __call__(
        self,
        *args: str,
        key: str | None = ADMIN_KEY,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        url: str | None = None,
        configured: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `vouchers ARGS...` with VOUCHERS_URL and the admin key (key=None: no key).

        ``configured=False`` sets neither VOUCHERS_URL nor VOUCHERS_ADMIN_KEY.
        """
        environment = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHERS_")}
        # This checkout's code, even if the editable install points at another one.
        environment["PYTHONPATH"] = str(ROOT / "src")
        if configured:
            environment["VOUCHERS_URL"] = url or self.url
            if key is not None:
                environment["VOUCHERS_ADMIN_KEY"] = key
        environment.update(env or {})
        return subprocess.run(
            [str(SCRIPT), *args],
            capture_output=True,
            text=True,
            input=stdin,
            env=environment,
            cwd=self.cwd,
            timeout=60,
            check=False,
        )


@pytest.fixture
def vouchers(cli_server: Server, tmp_path: Path) -> Vouchers:
    """The `vouchers` command, pointed at the CLI test server, run in an empty folder."""
    if not SCRIPT.exists():
        pytest.fail(f"no `vouchers` script at {SCRIPT}: install the project (pip install -e .)")
    return Vouchers(cli_server.url, tmp_path)
