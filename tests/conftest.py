"""Fixtures that point every suite at SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Api, Server, fresh_database, postgres_url

BACKENDS = ["sqlite", "postgres"]


def skip_without_postgres(backend: str) -> None:
    """Skip a PostgreSQL case with a clear reason when no server is configured."""
    if backend == "postgres" and postgres_url() is None:
        pytest.skip("set VOUCHERS_TEST_POSTGRES_URL to run the PostgreSQL suites")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each database backend in turn."""
    name: str = request.param
    skip_without_postgres(name)
    return name


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One shared server per backend, for tests that only add their own vouchers."""
    tmp_path = tmp_path_factory.mktemp(f"server-{backend}")
    with fresh_database(backend, tmp_path) as url:
        running = Server(url, tmp_path / "data").start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def api(server: Server) -> Api:
    """An admin client of the shared server."""
    return Api(server.url)


@pytest.fixture
def server_log(server: Server) -> str:
    """What the shared server has logged so far."""
    return server.log()


@pytest.fixture
def public(server: Server) -> Api:
    """A client of the shared server with no key."""
    return Api(server.url, key=None)


@pytest.fixture
def fresh_db(backend: str, tmp_path: Path) -> Iterator[str]:
    """A new empty database for a test that starts its own servers."""
    with fresh_database(backend, tmp_path) as url:
        yield url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI (VOUCHERS_REQUIRE_ALL_SUITES=1) a skipped suite is a failure."""
    import os

    if os.environ.get("VOUCHERS_REQUIRE_ALL_SUITES") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        print(f"\nCI: {skipped} test(s) were skipped; every suite must run here.")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
