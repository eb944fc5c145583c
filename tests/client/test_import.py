"""The client library and the CLI import without any of the server's packages."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from tests.support import ROOT

SERVER_PACKAGES = (
    "fastapi",
    "sqlalchemy",
    "starlette",
    "pydantic",
    "uvicorn",
    "alembic",
    "jinja2",
    "asyncpg",
    "aiosqlite",
)


def test_client_and_cli_import_no_server_package() -> None:
    program = (
        "import sys, vouchers.client, vouchers.cli; "
        f"print(sorted(m for m in {SERVER_PACKAGES!r} if m in sys.modules))"
    )
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert ast.literal_eval(result.stdout.strip()) == []
