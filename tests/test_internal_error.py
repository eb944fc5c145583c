"""An unexpected exception becomes a logged 500 internal_error that leaks nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support import in_process_app

SECRET_DETAIL = "SELECT code FROM vouchers WHERE code = 'LEAKED-CODE-123'"


def test_unexpected_exception_is_a_500_problem_with_a_logged_request_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug in a route answers 500 internal_error; the details go to the log only."""
    app = in_process_app(f"sqlite:///{tmp_path / 'vouchers.db'}", tmp_path / "data")

    # The route is the test's; the handlers and middleware answering for it are the app's.
    async def broken() -> None:
        raise RuntimeError(f"unexpected state after {SECRET_DETAIL}")

    app.add_api_route("/v1/test-only/broken", broken, methods=["GET"])
    capsys.readouterr()
    # Starlette re-raises after answering (so servers can log it); answer like a server.
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/test-only/broken")
        assert client.get("/healthz").status_code == 200, "the app keeps serving"
    log = capsys.readouterr().err

    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["type"] == "/problems/internal_error"
    assert body["status"] == 500
    assert body["title"] and body["detail"]
    request_id = body["request_id"]
    assert request_id.startswith("req_")
    assert response.headers["X-Request-ID"] == request_id
    assert request_id in body["detail"], "the client is told which id to quote"
    for leak in ("Traceback", "RuntimeError", "SELECT", "LEAKED-CODE-123", "broken"):
        assert leak not in response.text, leak

    assert f"unhandled error (request {request_id})" in log, log
    assert "RuntimeError: unexpected state" in log, "the traceback is logged"
