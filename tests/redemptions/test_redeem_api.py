"""Redeem and validate over HTTP: every answer, and bad input that changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import Api, assert_problem, ledger_sum, unique_code


def test_redeem_once_and_several(api: Api) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    first = api.redeem(code.lower())
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["id"].startswith("rdm_")
    assert body["code"] == code and body["quantity"] == 1 and body["remaining"] == 4
    assert body["reversed_at"] is None and body["customer_id"] is None
    second = api.redeem(code, quantity=3, metadata={"order": "A-1"}).json()
    assert second["quantity"] == 3 and second["remaining"] == 1
    assert second["metadata"] == {"order": "A-1"}
    voucher = api.get(f"/v1/vouchers/{code}").json()
    assert voucher["redeemed"] == 4 and voucher["remaining"] == 1
    assert ledger_sum(api, code) == (4, 2)


def test_empty_body_redeems_one(api: Api) -> None:
    code = api.create_voucher(max_redemptions=2)["code"]
    response = api.request("POST", f"/v1/vouchers/{code}/redemptions")
    assert response.status_code == 201, response.text
    assert response.json()["quantity"] == 1


def test_exact_asks_too_many(api: Api) -> None:
    code = api.create_voucher(max_redemptions=3)["code"]
    api.redeem(code, quantity=2)
    problem = assert_problem(api.redeem(code, quantity=2), 409, "insufficient_redemptions")
    assert problem["remaining"] == 1
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 2


def test_up_to_takes_what_remains(api: Api) -> None:
    code = api.create_voucher(max_redemptions=3)["code"]
    api.redeem(code, quantity=2)
    body = api.redeem(code, quantity=5, mode="up_to").json()
    assert body["quantity"] == 1 and body["remaining"] == 0
    assert_problem(api.redeem(code, mode="up_to"), 409, "voucher_exhausted")


def test_exhausted(api: Api) -> None:
    code = api.create_voucher(max_redemptions=1)["code"]
    assert api.redeem(code).status_code == 201
    assert_problem(api.redeem(code), 409, "voucher_exhausted")


def test_unknown_code(api: Api) -> None:
    assert_problem(api.redeem(unique_code()), 404, "voucher_not_found")


def test_disabled(api: Api) -> None:
    code = api.create_voucher()["code"]
    api.patch(f"/v1/vouchers/{code}", {"disabled": True})
    assert_problem(api.redeem(code), 409, "voucher_disabled")


def test_expired(api: Api) -> None:
    code = api.create_voucher()["code"]
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    assert api.patch(f"/v1/vouchers/{code}", {"expires_at": past}).status_code == 200
    problem = assert_problem(api.redeem(code), 409, "voucher_expired")
    assert "expired at" in problem["detail"]


def test_not_started(api: Api) -> None:
    code = api.create_voucher(starts_at="2098-06-01")["code"]
    assert_problem(api.redeem(code), 409, "voucher_not_started")


def test_status_order_disabled_beats_expired(api: Api) -> None:
    code = api.create_voucher()["code"]
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    api.patch(f"/v1/vouchers/{code}", {"expires_at": past, "disabled": True})
    assert_problem(api.redeem(code), 409, "voucher_disabled")


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 0},
        {"quantity": -3},
        {"quantity": 1_000_000_001},
        {"quantity": 10**30},
        {"quantity": 1.5},
        {"quantity": 2.0},
        {"quantity": "2"},
        {"quantity": True},
        {"quantity": None},
        {"mode": "all"},
        {"mode": None},
        {"customer_id": ""},
        {"customer_id": "c" * 129},
        {"metadata": "x"},
        {"colour": "red"},
    ],
)
def test_bad_redeem_input_is_422_and_changes_nothing(api: Api, body: dict[str, object]) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    assert_problem(api.redeem(code, **body), 422, "validation_error")
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 0
    assert ledger_sum(api, code) == (0, 0)


def test_bad_body_is_checked_before_lookup(api: Api) -> None:
    assert_problem(api.redeem(unique_code(), quantity=0), 422, "validation_error")


@pytest.mark.parametrize("bad_code", ["has%20space%20inside", "x" * 65, "semi;colon"])
def test_bad_code_in_path_is_422(api: Api, bad_code: str) -> None:
    assert_problem(api.redeem(bad_code), 422, "validation_error")


def test_malformed_json_redeem_is_400(api: Api) -> None:
    code = api.create_voucher()["code"]
    response = api.request(
        "POST",
        f"/v1/vouchers/{code}/redemptions",
        data=b"{quantity: 1}",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "malformed_request")
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 0


def test_non_object_body_is_422(api: Api) -> None:
    code = api.create_voucher()["code"]
    response = api.request("POST", f"/v1/vouchers/{code}/redemptions", json=[1])
    assert_problem(response, 422, "validation_error")


def test_redeem_is_public_but_admin_routes_are_not(public: Api, api: Api) -> None:
    code = api.create_voucher()["code"]
    assert public.redeem(code).status_code == 201
    assert_problem(public.get(f"/v1/vouchers/{code}"), 401, "unauthorized")
    assert_problem(public.get("/v1/vouchers"), 401, "unauthorized")
    wrong = Api(api.base_url, key="not-the-admin-key-at-all")
    assert_problem(wrong.get(f"/v1/vouchers/{code}"), 401, "unauthorized")


def test_validate_answers_without_changing(api: Api) -> None:
    code = api.create_voucher(max_redemptions=2)["code"]
    ok = api.post(f"/v1/vouchers/{code}/validate", {"quantity": 2})
    assert ok.status_code == 200
    assert ok.json() == {
        "valid": True,
        "code": None,
        "remaining": 2,
        "expires_at": "2099-01-01T00:00:00Z",
    }
    too_many = api.post(f"/v1/vouchers/{code}/validate", {"quantity": 3}).json()
    assert too_many["valid"] is False and too_many["code"] == "insufficient_redemptions"
    assert api.post(f"/v1/vouchers/{code}/validate", {"quantity": 3, "mode": "up_to"}).json()[
        "valid"
    ]
    unknown = api.post(f"/v1/vouchers/{unique_code()}/validate").json()
    assert unknown == {
        "valid": False,
        "code": "voucher_not_found",
        "remaining": 0,
        "expires_at": None,
    }
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 0
    assert_problem(
        api.post(f"/v1/vouchers/{code}/validate", {"quantity": 0}), 422, "validation_error"
    )


def test_every_response_has_a_request_id(public: Api) -> None:
    mine = public.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert mine.headers["X-Request-ID"] == "trace-123"
    generated = public.redeem(unique_code())
    assert generated.headers["X-Request-ID"] == generated.json()["request_id"]


def test_problem_pages_explain_codes(public: Api) -> None:
    page = public.get("/problems/voucher_expired")
    assert page.status_code == 200 and "expired" in page.text.lower()


def test_openapi_and_docs_are_served(public: Api) -> None:
    schema = public.get("/openapi.json").json()
    assert "/v1/vouchers/{code}/redemptions" in schema["paths"]
    assert "Problem" in schema["components"]["schemas"]
    assert public.get("/readyz").json()["status"] == "ok"


def test_docs_pages_load_nothing_from_the_internet(public: Api) -> None:
    """/docs and /redoc take their scripts and styles from this server, never a CDN."""
    for page in ("/docs", "/redoc"):
        response = public.get(page)
        assert response.status_code == 200
        html = response.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, html
        assert not re.search(r"https?://", " ".join(assets)), assets
        for asset in assets:
            assert public.get(asset).status_code == 200, asset


def test_openapi_documents_400_on_every_route_with_a_body(public: Api) -> None:
    """Found by the schema fuzzer: create, patch and validate answered an undocumented 400."""
    paths = public.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/v1/vouchers", "post"),
        ("/v1/vouchers/{code}", "patch"),
        ("/v1/vouchers/{code}/redemptions", "post"),
        ("/v1/vouchers/{code}/validate", "post"),
    ]:
        assert "400" in paths[path][method]["responses"], (method, path)


def test_routing_errors_are_problems_with_pages(api: Api) -> None:
    """Found checking the fuzzer's problem+json rule: these had type about:blank and no page."""
    answers = [
        (api.get("/v1/no-such-route"), 404, "route_not_found"),
        (api.request("PUT", "/v1/vouchers"), 405, "method_not_allowed"),
        (api.post("/v1/vouchers", data=b"x" * 70_000), 413, "request_too_large"),
    ]
    for response, status, code in answers:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == code and body["status"] == status
        assert body["type"] == f"/problems/{code}"
        assert api.get(body["type"]).status_code == 200


def test_redeem_path_edges_match_the_router(api: Api) -> None:
    """The hot path's shortcut answers the route's edge cases as the router would."""
    code = api.create_voucher(max_redemptions=3)["code"]
    encoded = "".join(f"%{ord(char):02X}" for char in code.lower())
    assert api.request("POST", f"/v1/vouchers/{encoded}/redemptions").status_code == 201
    assert_problem(
        api.request("POST", f"/v1/vouchers/{code}%2Fx/redemptions"), 404, "route_not_found"
    )
    # A trailing slash is the router's: its redirect to the canonical path.
    redirect = api.request("POST", f"/v1/vouchers/{code}/redemptions/", allow_redirects=False)
    assert redirect.status_code == 307
    assert_problem(
        api.request("POST", "/v1/vouchers/bad%20code!/redemptions"), 422, "validation_error"
    )
    assert api.get(f"/v1/vouchers/{code}/redemptions").json()["items"][0]["quantity"] == 1
    assert api.get(f"/v1/vouchers/{code}").json()["redeemed"] == 1
