"""Security review as tests: every admin route needs the key, limits hold, nothing leaks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import requests
from fastapi.routing import iter_route_contexts

from tests.support import Api, Server, assert_problem, in_process_app

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/v1/vouchers/{code}/redemptions"),
    ("POST", "/v1/vouchers/{code}/validate"),
}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "SOME-ID-1", path)


def test_every_admin_route_in_the_openapi_needs_the_admin_key(api: Api, public: Api) -> None:
    schema = public.get("/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method in operations:
            if (method.upper(), path) in PUBLIC or not path.startswith("/v1/"):
                continue
            response = public.request(method.upper(), _concrete(path), json={})
            assert_problem(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"] == "Bearer"
            wrong = Api(api.base_url, key="an-admin-key-that-is-wrong")
            assert_problem(
                wrong.request(method.upper(), _concrete(path), json={}), 401, "unauthorized"
            )
            checked += 1
    assert checked >= 8, f"only {checked} admin operations found"


def test_public_routes_are_the_documented_ones(public: Api) -> None:
    schema = public.get("/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert documented >= PUBLIC - {("GET", "/metrics")}


def test_oversized_bodies_are_refused(public: Api) -> None:
    response = public.request(
        "POST",
        "/v1/vouchers/ANY-CODE/redemptions",
        data=b'{"metadata": {"x": "' + b"a" * 70_000 + b'"}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_oversized_chunked_bodies_are_refused(api: Api, public: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"metadata": {"x": "'
        for _ in range(10):
            yield b"a" * 8_000
        yield b'"}}'

    # No Content-Length: the limit is enforced while the body streams in, on the
    # redeem shortcut and on a routed endpoint alike.
    for client, path in ((public, "/v1/vouchers/ANY-CODE/redemptions"), (api, "/v1/vouchers")):
        response = client.request(
            "POST", path, data=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.request.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in response.request.headers
        assert_problem(response, 413, "request_too_large")


def test_problem_pages_get_the_page_security_headers(public: Api) -> None:
    response = public.get("/problems/voucher_not_found")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    unknown = public.get("/problems/no-such-problem")
    assert unknown.status_code == 404
    assert unknown.headers["Content-Security-Policy"] == csp


# The console's JSON endpoints for the batch page's script answer 401, not a redirect.
CONSOLE_JSON = {
    "/admin/batches",
    "/admin/batches/{batch_id}",
}
SIGN_IN = "/admin/sign-in"


def _console_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """(method, path) of every route under /admin, as the app registers them."""
    app = in_process_app(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "data")
    found = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        if path is None or not (path == "/admin" or path.startswith("/admin/")):
            continue
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, path))
    return sorted(found)


def test_every_console_route_needs_a_session(api: Api, server: Server, tmp_path: Path) -> None:
    """Signed out, console GETs go to the sign-in page and POSTs are refused, changing nothing."""
    voucher = api.create_voucher(max_redemptions=5)
    redemption = api.redeem(voucher["code"]).json()
    values = {
        "code": voucher["code"],
        "redemption_id": redemption["id"],
        "batch_id": "SOME-ID-1",
    }
    form = {
        "csrf_token": "not-a-token",
        "max_redemptions": "99",
        "expires_at": "2098-01-01",
        "code": "SIGNED-OUT-1",
    }
    browser = requests.Session()
    checked = {"GET": 0, "POST": 0}
    for method, path in _console_routes(tmp_path):
        if path == SIGN_IN:
            continue
        concrete = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)
        response = browser.request(
            method, server.url + concrete, data=form, allow_redirects=False, timeout=30
        )
        where = f"{method} {path}"
        if path in CONSOLE_JSON:
            assert response.status_code == 401, where
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "unauthorized", where
        elif method == "GET":
            assert response.status_code == 303, where
            assert response.headers["Location"].startswith(SIGN_IN), where
        else:
            assert response.status_code in (303, 401, 403), where
            if response.status_code == 303:
                assert response.headers["Location"].startswith(SIGN_IN), where
        checked[method] += 1
    assert checked["GET"] >= 6 and checked["POST"] >= 7, checked
    after = api.get(f"/v1/vouchers/{voucher['code']}").json()
    unchanged = ("disabled", "max_redemptions", "expires_at")
    assert {name: after[name] for name in unchanged} == {name: voucher[name] for name in unchanged}
    assert after["redeemed"] == 1
    assert api.get(f"/v1/redemptions/{redemption['id']}").json()["reversed_at"] is None
    assert api.get("/v1/vouchers/SIGNED-OUT-1").status_code == 404


def test_errors_carry_no_traces_or_sql(api: Api, public: Api) -> None:
    bodies = [
        public.redeem("NOPE-NOPE").text,
        public.redeem("bad code!").text,
        api.post("/v1/vouchers", {"max_redemptions": "x"}).text,
        public.request(
            "POST",
            "/v1/vouchers/X/redemptions",
            data=b"{",
            headers={"Content-Type": "application/json"},
        ).text,
    ]
    for body in bodies:
        for leak in ("Traceback", "SELECT ", "sqlalchemy", 'File "', "test-admin-key"):
            assert leak not in body


def test_logs_hold_no_keys_and_no_codes(api: Api, public: Api, server: Server) -> None:
    code = api.create_voucher(code="SECRETCODE-" + "Q7" * 8, max_redemptions=1)["code"]
    assert public.redeem(code).status_code == 201
    assert public.redeem(code).status_code == 409
    assert public.redeem(code + "X").status_code == 404
    api.create_voucher(code=code.lower() + "-2")
    log = server.log()
    assert "POST /v1/vouchers/{code}/redemptions 201" in log, "the access log is written"
    assert "test-admin-key" not in log
    assert "SECRETCODE" not in log.upper()
