"""Voucher routes over HTTP: create, read, list, patch, delete, and their errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import Api, Server, assert_problem, unique_code

FUTURE = "2099-01-01T00:00:00Z"


def test_create_returns_voucher_and_location(api: Api) -> None:
    code = unique_code()
    response = api.post(
        "/v1/vouchers",
        {"code": code, "max_redemptions": 100, "expires_at": FUTURE, "metadata": {"a": [1, 2]}},
    )
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v1/vouchers/{code}"
    voucher = response.json()
    assert voucher["code"] == code
    assert voucher["max_redemptions"] == 100
    assert voucher["redeemed"] == 0 and voucher["remaining"] == 100
    assert voucher["status"] == "active"
    assert voucher["expires_at"] == FUTURE
    assert voucher["metadata"] == {"a": [1, 2]}
    assert voucher["created_at"].endswith("Z")


def test_generated_code_uses_the_default_alphabet(api: Api) -> None:
    voucher = api.post("/v1/vouchers", {"max_redemptions": 1, "expires_at": FUTURE}).json()
    assert len(voucher["code"]) == 12
    assert set(voucher["code"]) <= set("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")


def test_lookup_ignores_case_and_whitespace(api: Api) -> None:
    code = unique_code("Mixed")
    api.create_voucher(code=code)
    response = api.get(f"/v1/vouchers/%20{code.lower()}%20")
    assert response.status_code == 200
    assert response.json()["code"] == code


def test_code_equal_under_case_is_taken(api: Api) -> None:
    code = unique_code()
    api.create_voucher(code=code)
    response = api.post(
        "/v1/vouchers", {"code": code.lower(), "max_redemptions": 1, "expires_at": FUTURE}
    )
    assert_problem(response, 409, "code_taken")


def test_date_only_expiry_lasts_the_whole_day(api: Api) -> None:
    voucher = api.create_voucher(expires_at="2098-08-31", starts_at="2098-08-01")
    assert voucher["expires_at"] == "2098-09-01T00:00:00Z"
    assert voucher["starts_at"] == "2098-08-01T00:00:00Z"
    assert voucher["status"] == "scheduled"


def test_date_only_times_use_the_configured_time_zone(tmp_path: Path) -> None:
    """With VOUCHERS_TIMEZONE=Europe/Berlin, dates mean Berlin midnights (summer and winter)."""
    server = Server(
        f"sqlite:///{tmp_path / 'berlin.db'}",
        tmp_path / "data",
        env={"VOUCHERS_TIMEZONE": "Europe/Berlin"},
    ).start()
    try:
        voucher = Api(server.url).create_voucher(expires_at="2098-08-31", starts_at="2098-01-15")
        assert voucher["expires_at"] == "2098-08-31T22:00:00Z", "next midnight, CEST (UTC+2)"
        assert voucher["starts_at"] == "2098-01-14T23:00:00Z", "that day's midnight, CET (UTC+1)"
    finally:
        server.stop()


def test_offsets_are_converted_to_utc(api: Api) -> None:
    voucher = api.create_voucher(expires_at="2098-01-01T02:00:00+02:00")
    assert voucher["expires_at"] == "2098-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_redemptions", 0),
        ("max_redemptions", -1),
        ("max_redemptions", 1_000_000_001),
        ("max_redemptions", 2.5),
        ("max_redemptions", 3.0),
        ("max_redemptions", "5"),
        ("max_redemptions", True),
        ("max_redemptions", None),
        ("expires_at", "2098-01-01T00:00:00"),
        ("expires_at", "2020-01-01T00:00:00Z"),
        ("expires_at", "next tuesday"),
        ("expires_at", 1234),
        ("code", "has space"),
        ("code", "é-accent"),
        ("code", "X" * 65),
        ("code", ""),
        ("per_customer_limit", 0),
        ("metadata", {"blob": "x" * 5000}),
        ("metadata", [1, 2]),
        ("surprise", 1),
    ],
)
def test_bad_create_input_is_422_and_changes_nothing(api: Api, field: str, value: object) -> None:
    code = unique_code("BAD")
    body: dict[str, object] = {"code": code, "max_redemptions": 5, "expires_at": FUTURE}
    body[field] = value
    problem = assert_problem(api.post("/v1/vouchers", body), 422, "validation_error")
    assert problem["errors"] and all("field" in e and "message" in e for e in problem["errors"])
    if field != "code":
        assert_problem(api.get(f"/v1/vouchers/{code}"), 404, "voucher_not_found")


def test_validation_error_names_the_field(api: Api) -> None:
    body = {"max_redemptions": 0, "expires_at": FUTURE}
    problem = assert_problem(api.post("/v1/vouchers", body), 422, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["max_redemptions"]


def test_expiry_must_follow_start(api: Api) -> None:
    body = {"max_redemptions": 5, "expires_at": "2098-01-01", "starts_at": "2098-02-01"}
    problem = assert_problem(api.post("/v1/vouchers", body), 422, "validation_error")
    assert problem["errors"][0]["field"] == "expires_at"


def test_malformed_json_is_400(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/vouchers",
        data=b'{"max_redemptions": 5,',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "malformed_request")


def test_unknown_voucher_is_404(api: Api) -> None:
    assert_problem(api.get(f"/v1/vouchers/{unique_code()}"), 404, "voucher_not_found")


def test_list_pages_newest_first_with_prefix(api: Api) -> None:
    prefix = unique_code("PG")
    codes = [f"{prefix}-{n}" for n in range(5)]
    for code in codes:
        api.create_voucher(code=code)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"prefix": prefix.lower(), "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/vouchers", params=params).json()
        seen += [item["code"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # Rows added while paging do not disturb the cursor.
        api.create_voucher(code=f"{prefix}-NEW{len(seen)}")
    assert seen == list(reversed(codes))


def test_prefix_treats_underscore_literally(api: Api) -> None:
    base = unique_code("US")
    api.create_voucher(code=f"{base}_X")
    api.create_voucher(code=f"{base}AX")
    page = api.get("/v1/vouchers", params={"prefix": f"{base}_"}).json()
    assert [item["code"] for item in page["items"]] == [f"{base}_X"]


def test_list_filters_by_status(api: Api) -> None:
    prefix = unique_code("ST")
    api.create_voucher(code=f"{prefix}-ACTIVE")
    api.create_voucher(code=f"{prefix}-SCHED", starts_at="2098-01-01")
    api.create_voucher(code=f"{prefix}-OFF")
    api.patch(f"/v1/vouchers/{prefix}-OFF", {"disabled": True})
    api.create_voucher(code=f"{prefix}-USED", max_redemptions=1)
    api.redeem(f"{prefix}-USED")
    api.create_voucher(code=f"{prefix}-PAST")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    api.patch(f"/v1/vouchers/{prefix}-PAST", {"expires_at": past})
    expected = {
        "active": "ACTIVE",
        "scheduled": "SCHED",
        "disabled": "OFF",
        "exhausted": "USED",
        "expired": "PAST",
    }
    for status, suffix in expected.items():
        page = api.get("/v1/vouchers", params={"prefix": prefix, "status": status}).json()
        assert [item["code"] for item in page["items"]] == [f"{prefix}-{suffix}"], status
        assert page["items"][0]["status"] == status


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"status": "sleepy"}, {"cursor": "garbage!"}, {"prefix": "a%"}],
)
def test_bad_list_parameters_are_422(api: Api, params: dict[str, object]) -> None:
    assert_problem(api.get("/v1/vouchers", params=params), 422, "validation_error")


def test_patch_changes_fields_and_null_removes(api: Api) -> None:
    voucher = api.create_voucher(starts_at="2098-01-01", per_customer_limit=2)
    code = voucher["code"]
    response = api.patch(
        f"/v1/vouchers/{code}",
        {
            "max_redemptions": 50,
            "starts_at": None,
            "per_customer_limit": None,
            "metadata": {"x": 1},
        },
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["max_redemptions"] == 50
    assert changed["starts_at"] is None and changed["per_customer_limit"] is None
    assert changed["metadata"] == {"x": 1}
    assert changed["status"] == "active"
    assert api.get(f"/v1/vouchers/{code}").json() == changed


def test_patch_disable_and_enable(api: Api) -> None:
    code = api.create_voucher()["code"]
    assert api.patch(f"/v1/vouchers/{code}", {"disabled": True}).json()["status"] == "disabled"
    assert api.patch(f"/v1/vouchers/{code}", {"disabled": False}).json()["status"] == "active"


def test_patch_cannot_lower_limit_below_redeemed(api: Api) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    assert api.redeem(code, quantity=3).status_code == 201
    problem = assert_problem(
        api.patch(f"/v1/vouchers/{code}", {"max_redemptions": 2}), 409, "limit_below_redeemed"
    )
    assert "3" in problem["detail"]
    assert api.get(f"/v1/vouchers/{code}").json()["max_redemptions"] == 5
    assert api.patch(f"/v1/vouchers/{code}", {"max_redemptions": 3}).json()["status"] == (
        "exhausted"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"max_redemptions": None},
        {"expires_at": None},
        {"disabled": "yes"},
        {"expires_at": "2098-01-01T00:00:00"},
        {"unknown": 1},
    ],
)
def test_bad_patch_is_422_and_changes_nothing(api: Api, body: dict[str, object]) -> None:
    voucher = api.create_voucher()
    response = api.patch(f"/v1/vouchers/{voucher['code']}", body)
    assert_problem(response, 422, "validation_error")
    assert api.get(f"/v1/vouchers/{voucher['code']}").json() == voucher


def test_patch_unknown_voucher_is_404(api: Api) -> None:
    response = api.patch(f"/v1/vouchers/{unique_code()}", {"disabled": True})
    assert_problem(response, 404, "voucher_not_found")


def test_delete_unredeemed_voucher(api: Api) -> None:
    code = api.create_voucher()["code"]
    assert api.delete(f"/v1/vouchers/{code}").status_code == 204
    assert_problem(api.get(f"/v1/vouchers/{code}"), 404, "voucher_not_found")
    assert_problem(api.delete(f"/v1/vouchers/{code}"), 404, "voucher_not_found")


def test_delete_with_ledger_is_refused_even_if_reversed(api: Api) -> None:
    code = api.create_voucher()["code"]
    redemption = api.redeem(code).json()
    assert api.post(f"/v1/redemptions/{redemption['id']}/reversal").status_code == 200
    assert_problem(api.delete(f"/v1/vouchers/{code}"), 409, "voucher_has_redemptions")
    assert api.get(f"/v1/vouchers/{code}").status_code == 200


@pytest.mark.parametrize("path", ["/v1/vouchers", "/v1/vouchers/ANY/validate"])
@pytest.mark.parametrize("raw", [b"\xff", b'{"code": "\xff"}'])
def test_body_that_is_not_utf8_is_400(api: Api, path: str, raw: bytes) -> None:
    """Found by the schema fuzzer: such a body was 400 'http_error' with type about:blank."""
    response = api.request("POST", path, data=raw, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "malformed_request")


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31", "0001-01-01"]
)
def test_timestamps_at_the_edge_of_the_calendar_are_422(api: Api, value: str) -> None:
    """Found by the schema fuzzer: these overflowed into a 500 (0001-01-01: east of UTC)."""
    body = {"code": unique_code(), "max_redemptions": 1, "expires_at": value}
    assert_problem(api.post("/v1/vouchers", body), 422, "validation_error")
    code = api.create_voucher()["code"]
    for field in ("expires_at", "starts_at"):
        patched = api.patch(f"/v1/vouchers/{code}", {field: value})
        assert_problem(patched, 422, "validation_error")


def test_lower_case_t_and_z_are_rfc_3339(api: Api) -> None:
    """Found probing RFC 3339 forms after a fuzzer finding: 't' and 'z' were 422."""
    voucher = api.create_voucher(expires_at="2098-01-01t02:00:00z")
    assert voucher["expires_at"] == "2098-01-01T02:00:00Z"
