"""The console over plain HTTP: sign-in, cookies, CSRF, sign-out, redirects, headers, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import requests

from tests.support import ADMIN_KEY, Api, Server, unique_code
from tests.web.helpers import FUTURE_DAY, Console, csrf_from, form_id_from


def _set_cookies(response: requests.Response) -> dict[str, SimpleCookie]:
    found: dict[str, SimpleCookie] = {}
    for header in response.raw.headers.getlist("Set-Cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


def _sign_in(server: Server, key: str) -> tuple[requests.Session, requests.Response]:
    http = requests.Session()
    page = http.get(f"{server.url}/admin/sign-in", timeout=30)
    response = http.post(
        f"{server.url}/admin/sign-in",
        data={"admin_key": key, "csrf_token": csrf_from(page.text)},
        allow_redirects=False,
        timeout=30,
    )
    return http, response


def test_console_pages_redirect_to_sign_in(server: Server) -> None:
    for path in ("/admin", "/admin/vouchers?status=active", "/admin/new-voucher"):
        response = requests.get(server.url + path, allow_redirects=False, timeout=30)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/admin/sign-in")
    response = requests.get(
        server.url + "/admin/vouchers?status=active", allow_redirects=False, timeout=30
    )
    assert response.headers["Location"] == "/admin/sign-in?next=/admin/vouchers%3Fstatus%3Dactive"


def test_sign_in_sets_a_strict_http_only_cookie_without_the_key(server: Server) -> None:
    _, response = _sign_in(server, ADMIN_KEY)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin"
    cookies = _set_cookies(response)
    session = cookies["vouchers_console"]["vouchers_console"]
    assert session["httponly"] is True
    assert session["samesite"].lower() == "strict"
    assert session["path"] == "/admin"
    assert int(session["max-age"]) > 0
    assert not session["secure"]  # plain http here; set under https
    assert ADMIN_KEY not in session.value
    assert int(cookies["vouchers_sign_in"]["vouchers_sign_in"]["max-age"]) == 0


def test_wrong_key_does_not_sign_in(server: Server) -> None:
    _, response = _sign_in(server, "not-the-admin-key-0000000")
    assert response.status_code == 401
    assert "That is not the admin key" in response.text
    assert "vouchers_console" not in _set_cookies(response)


def test_sign_in_without_its_form_token_is_refused(server: Server) -> None:
    response = requests.post(
        f"{server.url}/admin/sign-in",
        data={"admin_key": ADMIN_KEY},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 403
    assert "vouchers_console" not in _set_cookies(response)


def test_forged_or_foreign_session_cookie_is_not_a_session(server: Server) -> None:
    for value in ("1.abc.def", "garbage", f"{ADMIN_KEY}"):
        response = requests.get(
            f"{server.url}/admin",
            cookies={"vouchers_console": value},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 303


def test_posts_without_the_session_csrf_token_are_rejected(server: Server, api: Api) -> None:
    console = Console(server.url)
    other = Console(server.url)
    code = unique_code("CSRF")
    form = {"code": code, "max_redemptions": "5", "expires_at": FUTURE_DAY}
    for token in (None, "", "forged-token", other.csrf):
        body = dict(form, csrf_token=token) if token is not None else dict(form)
        response = console.post("/admin/new-voucher", body)
        assert response.status_code == 403, token
        assert "This form has expired" in response.text
    assert api.get(f"/v1/vouchers/{code}").status_code == 404
    response = console.post("/admin/new-voucher", dict(form, csrf_token=console.csrf))
    assert response.status_code == 303
    assert api.get(f"/v1/vouchers/{code}").status_code == 200


def test_every_console_post_checks_csrf(server: Server, api: Api) -> None:
    voucher = api.create_voucher(max_redemptions=5)
    code = voucher["code"]
    redemption = api.redeem(code).json()
    console = Console(server.url)
    posts = {
        f"/admin/vouchers/{code}/disable": {},
        f"/admin/vouchers/{code}/enable": {},
        f"/admin/vouchers/{code}/expiry": {"expires_at": FUTURE_DAY},
        f"/admin/vouchers/{code}/limit": {"max_redemptions": "9"},
        f"/admin/redemptions/{redemption['id']}/reverse": {},
        "/admin/sign-out": {},
    }
    for path, form in posts.items():
        assert console.post(path, dict(form, csrf_token="nope")).status_code == 403, path
    after = api.get(f"/v1/vouchers/{code}").json()
    assert after["disabled"] is False and after["max_redemptions"] == 5 and after["redeemed"] == 1
    batch = console.http.post(
        f"{server.url}/admin/batches", json={"count": 1}, allow_redirects=False, timeout=30
    )
    assert batch.status_code == 403


def test_sign_out_forgets_the_session(server: Server) -> None:
    console = Console(server.url)
    assert console.get("/admin").status_code == 200
    response = console.post("/admin/sign-out", {"csrf_token": console.csrf})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/sign-in?signed_out=1"
    cleared = _set_cookies(response)["vouchers_console"]["vouchers_console"]
    assert cleared.value in ("", '""') and int(cleared["max-age"]) == 0
    assert console.get("/admin").status_code == 303


def test_security_headers_on_pages_not_on_the_api(server: Server) -> None:
    for path in ("/", "/admin/sign-in", "/static/style.css"):
        response = requests.get(server.url + path, timeout=30)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert requests.get(server.url + "/admin/sign-in", timeout=30).headers["Cache-Control"] == (
        "no-store"
    )
    assert (
        "Content-Security-Policy" not in requests.get(server.url + "/healthz", timeout=30).headers
    )


def test_pages_have_no_inline_script(server: Server) -> None:
    console = Console(server.url)
    for response in (requests.get(server.url + "/", timeout=30), console.get("/admin")):
        assert "<script>" not in response.text
        assert "onclick" not in response.text and "style=" not in response.text


def test_new_voucher_errors_name_their_fields(console: Console, api: Api) -> None:
    page = console.get("/admin/new-voucher")
    response = console.post(
        "/admin/new-voucher",
        {
            "csrf_token": console.csrf,
            "form_id": form_id_from(page.text),
            "code": "bad code!",
            "max_redemptions": "0",
            "expires_at": "",
        },
    )
    assert response.status_code == 422
    assert 'id="code-error"' in response.text
    assert 'id="expires_at-error"' in response.text
    response = console.post(
        "/admin/new-voucher",
        {"csrf_token": console.csrf, "max_redemptions": "0", "expires_at": "2001-01-01"},
    )
    assert response.status_code == 422
    assert 'id="max_redemptions-error"' in response.text
    response = console.post(
        "/admin/new-voucher",
        {"csrf_token": console.csrf, "max_redemptions": "3", "expires_at": "2001-01-01"},
    )
    assert response.status_code == 422
    assert 'id="expires_at-error"' in response.text and "already past" in response.text


def test_new_voucher_code_taken_and_double_submit(console: Console, api: Api) -> None:
    taken = api.create_voucher()["code"]
    response = console.post(
        "/admin/new-voucher",
        {
            "csrf_token": console.csrf,
            "code": taken,
            "max_redemptions": "1",
            "expires_at": FUTURE_DAY,
        },
    )
    assert response.status_code == 409
    assert 'id="code-error"' in response.text and "already exists" in response.text
    # The same form sent twice (no code: generated) creates one voucher.
    form_id = form_id_from(console.get("/admin/new-voucher").text)
    form = {
        "csrf_token": console.csrf,
        "form_id": form_id,
        "max_redemptions": "2",
        "expires_at": FUTURE_DAY,
    }
    first = console.post("/admin/new-voucher", form)
    second = console.post("/admin/new-voucher", form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]  # the same voucher


def test_list_searches_filters_and_pages(console: Console, api: Api) -> None:
    prefix = unique_code("PG")
    for n in range(52):
        api.create_voucher(code=f"{prefix}-{n:02d}")
    api.patch(f"/v1/vouchers/{prefix}-00", {"disabled": True})
    page = console.get("/admin/vouchers", params={"prefix": prefix.lower()})
    assert page.status_code == 200
    assert f"{prefix}-51" in page.text and f"{prefix}-02" in page.text
    assert f"{prefix}-01<" not in page.text  # 50 a page, newest first
    assert 'rel="next"' in page.text
    next_link = page.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    older = console.get(next_link.replace("&amp;", "&"))
    assert f"{prefix}-01" in older.text and f"{prefix}-00" in older.text
    assert 'rel="next"' not in older.text
    disabled = console.get("/admin/vouchers", params={"prefix": prefix, "status": "disabled"})
    assert f"{prefix}-00" in disabled.text and f"{prefix}-01<" not in disabled.text
    bad = console.get("/admin/vouchers", params={"prefix": "no spaces!"})
    assert bad.status_code == 200 and "no voucher starts with that" in bad.text


def test_detail_actions_and_reversal(console: Console, api: Api) -> None:
    voucher = api.create_voucher(max_redemptions=4)
    code = voucher["code"]
    redemption = api.redeem(code, quantity=3).json()
    detail = console.get(f"/admin/vouchers/{code}")
    assert detail.status_code == 200 and redemption["id"] in detail.text
    too_low = console.post(
        f"/admin/vouchers/{code}/limit", {"csrf_token": console.csrf, "max_redemptions": "2"}
    )
    assert too_low.status_code == 409 and "already redeemed" in too_low.text
    raised = console.post(
        f"/admin/vouchers/{code}/limit", {"csrf_token": console.csrf, "max_redemptions": "40"}
    )
    assert raised.status_code == 303 and raised.headers["Location"].endswith("notice=limit")
    extended = console.post(
        f"/admin/vouchers/{code}/expiry", {"csrf_token": console.csrf, "expires_at": "2100-06-30"}
    )
    assert extended.status_code == 303
    assert (
        console.post(f"/admin/vouchers/{code}/disable", {"csrf_token": console.csrf}).status_code
        == 303
    )
    after = api.get(f"/v1/vouchers/{code}").json()
    assert after["max_redemptions"] == 40 and after["disabled"] is True
    assert after["expires_at"] == "2100-07-01T00:00:00Z"
    assert (
        console.post(f"/admin/vouchers/{code}/enable", {"csrf_token": console.csrf}).status_code
        == 303
    )
    for _ in range(2):  # reversing twice restores once
        reversed_ = console.post(
            f"/admin/redemptions/{redemption['id']}/reverse", {"csrf_token": console.csrf}
        )
        assert reversed_.status_code == 303
    after = api.get(f"/v1/vouchers/{code}").json()
    assert after["redeemed"] == 0 and after["disabled"] is False
    missing = console.get("/admin/vouchers/NO-SUCH-VOUCHER-XYZ")
    assert missing.status_code == 404


def test_dashboard_counts_and_today_total(console: Console, api: Api) -> None:
    voucher = api.create_voucher(max_redemptions=10)
    assert api.redeem(voucher["code"], quantity=9).status_code == 201
    page = console.get("/admin", params={"refresh": "1"})
    assert page.status_code == 200
    assert "Vouchers by status" in page.text and "Redemptions, last 30 days" in page.text
    assert "Running low" in page.text and voucher["code"] in page.text
    today = api.get(f"/v1/vouchers/{voucher['code']}/redemptions").json()["items"][0]["created_at"][
        :10
    ]
    assert f'<td>{today}</td><td class="num">' in page.text


def test_dashboard_lists_vouchers_expiring_within_7_days(fresh_db: str, tmp_path: Path) -> None:
    # Its own server: the list shows the 8 soonest, and other tests add vouchers too.
    server = Server(fresh_db, tmp_path / "data").start()
    try:
        api, console = Api(server.url), Console(server.url)
        now = datetime.now(UTC)
        soon = api.create_voucher(expires_at=(now + timedelta(days=3)).isoformat())["code"]
        later = api.create_voucher(expires_at=(now + timedelta(days=30)).isoformat())["code"]
        off = api.create_voucher(expires_at=(now + timedelta(days=2)).isoformat())["code"]
        assert api.patch(f"/v1/vouchers/{off}", {"disabled": True}).status_code == 200
        page = console.get("/admin", params={"refresh": "1"})
        assert page.status_code == 200
        section = page.text.split('id="expiring-heading"', 1)[1].split("</section>", 1)[0]
        assert "Expiring within 7 days" in section
        assert f">{soon}</a>" in section
        assert later not in section, "30 days away is outside the window"
        assert off not in section, "only active vouchers are listed"
        assert later in console.get("/admin/vouchers").text, "it exists all the same"
    finally:
        server.stop()


def test_batch_pass_through_needs_a_session(server: Server) -> None:
    response = requests.post(f"{server.url}/admin/batches", json={"count": 1}, timeout=30)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "unauthorized"
    assert response.json()["request_id"] == response.headers["X-Request-ID"]
    assert requests.get(f"{server.url}/admin/batches/abc", timeout=30).status_code == 401


def test_signed_out_csv_download_goes_to_sign_in(server: Server) -> None:
    """A download link is a navigation: signed out, it leads to sign-in and back."""
    response = requests.get(
        f"{server.url}/admin/batches/bat_x/codes.csv", allow_redirects=False, timeout=30
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/sign-in?next=/admin/batches/bat_x/codes.csv"
