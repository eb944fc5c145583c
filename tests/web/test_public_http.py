"""The public redeem page over plain HTTP: every answer in plain words, and the redeem key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import ADMIN_KEY, Api, Server, fresh_database, unique_code
from tests.web.helpers import csrf_from, form_id_from

REDEEM_KEY = "test-redeem-key-0123456789abcdef"


def _redeem(base_url: str, code: str, quantity: str = "1", **extra: str) -> requests.Response:
    page = requests.get(base_url + "/", timeout=30)
    form = {"form_id": form_id_from(page.text), "code": code, "quantity": quantity, **extra}
    return requests.post(base_url + "/", data=form, timeout=30)


def _text(response: requests.Response) -> str:
    return re.sub(r"\s+", " ", response.text)


def test_success_says_how_many_were_redeemed_and_remain(server: Server, api: Api) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    response = _redeem(server.url, code.lower(), "2")
    assert response.status_code == 200
    text = _text(response)
    assert f"Redeemed 2 times on voucher {code}." in text
    assert "3 redemptions remain." in text
    assert 'aria-live="polite"' in text
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 2


def test_the_same_form_sent_twice_redeems_once(server: Server, api: Api) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    page = requests.get(server.url + "/", timeout=30)
    form = {"form_id": form_id_from(page.text), "code": code, "quantity": "1"}
    first = requests.post(server.url + "/", data=form, timeout=30)
    second = requests.post(server.url + "/", data=form, timeout=30)
    assert first.status_code == second.status_code == 200
    assert "This form was already sent" in _text(second)
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 1


@pytest.mark.parametrize(
    ("setup", "quantity", "extra", "status", "words"),
    [
        ("unknown", "1", {}, 404, "We could not find a voucher with that code."),
        ("too_many", "2", {}, 409, "Only 1 redemption remains on this voucher; you asked for 2."),
        ("used_up", "1", {}, 409, "This voucher has been used up"),
        ("expired", "1", {}, 409, "This voucher has expired"),
        ("scheduled", "1", {}, 409, "This voucher cannot be used yet: it starts 2098-01-01"),
        ("disabled", "1", {}, 409, "This voucher has been switched off."),
        ("per_customer", "1", {}, 422, "it needs your customer ID"),
        ("customer_used", "1", {"customer_id": "alice"}, 409, "already used your share"),
        ("customer_partly", "2", {"customer_id": "bob"}, 409, "only 1 more time"),
    ],
)
def test_failures_say_why_and_what_to_do(
    server: Server,
    api: Api,
    setup: str,
    quantity: str,
    extra: dict[str, str],
    status: int,
    words: str,
) -> None:
    code = unique_code("PUB")
    if setup != "unknown":
        fields: dict[str, object] = {"code": code, "max_redemptions": 3}
        if setup == "scheduled":
            fields["starts_at"] = "2098-01-01T00:00:00Z"
        if setup.startswith(("per_customer", "customer")):
            fields["per_customer_limit"] = 2
        api.create_voucher(**fields)
    if setup == "too_many":
        api.redeem(code, quantity=2)
    if setup == "used_up":
        api.redeem(code, quantity=3)
    if setup == "expired":
        api.patch(f"/v1/vouchers/{code}", {"expires_at": "2001-01-01T00:00:00Z"})
    if setup == "disabled":
        api.patch(f"/v1/vouchers/{code}", {"disabled": True})
    if setup == "customer_used":
        api.redeem(code, quantity=2, customer_id="alice")
    if setup == "customer_partly":
        api.redeem(code, quantity=1, customer_id="bob")
    response = _redeem(server.url, code, quantity, **extra)
    assert response.status_code == status, response.text
    text = _text(response)
    assert words in text
    assert "Nothing was redeemed" in text or "no longer be redeemed" in text


def test_form_errors_are_shown_beside_the_fields(server: Server) -> None:
    response = _redeem(server.url, "not a code!", "zero")
    assert response.status_code == 422
    assert 'id="code-error"' in response.text and 'id="quantity-error"' in response.text
    assert 'aria-invalid="true"' in response.text


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A SQLite server that requires VOUCHERS_REDEEM_KEY."""
    tmp_path: Path = tmp_path_factory.mktemp("keyed")
    with fresh_database("sqlite", tmp_path) as url:
        running = Server(url, tmp_path / "data", env={"VOUCHERS_REDEEM_KEY": REDEEM_KEY}).start()
        try:
            yield running
        finally:
            running.stop()


def test_with_a_redeem_key_the_page_needs_it(keyed_server: Server) -> None:
    api = Api(keyed_server.url)
    code = api.create_voucher(max_redemptions=5)["code"]
    page = requests.get(keyed_server.url + "/", timeout=30)
    assert "only accepts redemptions with its" in _text(page)
    refused = _redeem(keyed_server.url, code, "1")
    assert refused.status_code == 401
    assert "needs the redeem key" in _text(refused)
    wrong = _redeem(keyed_server.url, code, "1", redeem_key="wrong-key-000000000000")
    assert wrong.status_code == 401
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 0
    accepted = _redeem(keyed_server.url, code, "1", redeem_key=REDEEM_KEY)
    assert accepted.status_code == 200 and "Redeemed 1 time on voucher" in _text(accepted)
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 1


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[Server]:
    """A fresh SQLite server that allows two unknown codes per address a minute."""
    with fresh_database("sqlite", tmp_path) as url:
        running = Server(url, tmp_path / "data", env={"VOUCHERS_LOOKUP_LIMIT": "2"}).start()
        try:
            yield running
        finally:
            running.stop()


def test_guessing_codes_on_the_page_is_rate_limited(limited_server: Server) -> None:
    api = Api(limited_server.url)
    real = api.create_voucher(max_redemptions=5)["code"]
    for _ in range(2):
        assert _redeem(limited_server.url, unique_code("GUESS")).status_code == 404
    blocked = _redeem(limited_server.url, unique_code("GUESS"))
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many unknown codes were tried from your connection." in _text(blocked)
    # Once over the limit, every public request from the address waits, real codes too.
    assert _redeem(limited_server.url, real).status_code == 429
    assert Api(limited_server.url, key=None).redeem(real).status_code == 429
    assert api.get(f"/v1/vouchers/{real}").json()["redeemed"] == 0


def test_wrong_admin_keys_count_against_the_same_budget(limited_server: Server) -> None:
    page = requests.Session()
    for _ in range(2):
        form = page.get(limited_server.url + "/admin/sign-in", timeout=30).text
        wrong = page.post(
            limited_server.url + "/admin/sign-in",
            data={"admin_key": "wrong-key-0000000000000", "csrf_token": csrf_from(form)},
            allow_redirects=False,
            timeout=30,
        )
        assert wrong.status_code == 401
    form = page.get(limited_server.url + "/admin/sign-in", timeout=30).text
    blocked = page.post(
        limited_server.url + "/admin/sign-in",
        data={"admin_key": ADMIN_KEY, "csrf_token": csrf_from(form)},
        allow_redirects=False,
        timeout=30,
    )
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    assert "vouchers_console" not in blocked.cookies
