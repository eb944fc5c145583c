"""VoucherClient against a live server: redeem, validate, the ledger, reversals, their errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.support import Api, ledger_sum, unique_code
from vouchers.client import (
    ApiError,
    CustomerLimitReached,
    IdempotencyKeyReused,
    InsufficientRedemptions,
    MalformedRequest,
    NotFound,
    Redemption,
    RedemptionNotFound,
    ValidationError,
    ValidationResult,
    VoucherClient,
    VoucherDisabled,
    VoucherExhausted,
    VoucherExpired,
    VoucherNotFound,
    VoucherNotStarted,
)
from vouchers.client._errors import error_from_response


def test_redeem_returns_a_typed_redemption(client: VoucherClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    redemption = client.redeem(
        code.lower(), quantity=3, customer_id="alice", metadata={"order": "o-1"}
    )
    assert isinstance(redemption, Redemption)
    assert redemption.id and redemption.code == code
    assert (redemption.quantity, redemption.remaining) == (3, 7)
    assert redemption.customer_id == "alice" and redemption.metadata == {"order": "o-1"}
    assert redemption.created_at.tzinfo is not None and redemption.reversed_at is None
    assert client.get_voucher(code).redeemed == 3


def test_up_to_takes_what_remains(client: VoucherClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=4)["code"]
    client.redeem(code, quantity=3)
    with pytest.raises(InsufficientRedemptions) as caught:
        client.redeem(code, quantity=2)
    assert caught.value.remaining == 1
    assert client.redeem(code, quantity=5, mode="up_to").quantity == 1
    with pytest.raises(VoucherExhausted):
        client.redeem(code)


def test_customer_limit(client: VoucherClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=10, per_customer_limit=2)["code"]
    client.redeem(code, customer_id="bob")
    with pytest.raises(CustomerLimitReached) as caught:
        client.redeem(code, quantity=2, customer_id="bob")
    assert caught.value.customer_remaining == 1
    with pytest.raises(ValidationError) as missing:
        client.redeem(code)
    assert missing.value.errors and missing.value.errors[0]["field"] == "customer_id"


def test_window_and_disabled_errors(client: VoucherClient, api: Api) -> None:
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    with pytest.raises(VoucherNotStarted):
        client.redeem(api.create_voucher(starts_at=later)["code"])
    expired = api.create_voucher()["code"]
    client.update_voucher(expired, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(VoucherExpired):
        client.redeem(expired)
    disabled = api.create_voucher()["code"]
    client.update_voucher(disabled, disabled=True)
    with pytest.raises(VoucherDisabled) as caught:
        client.redeem(disabled)
    assert caught.value.status == 409 and caught.value.code == "voucher_disabled"
    with pytest.raises(VoucherNotFound):
        client.redeem(unique_code())


def test_validate_changes_nothing(client: VoucherClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=2)["code"]
    result = client.validate(code, quantity=2)
    assert isinstance(result, ValidationResult)
    assert (result.valid, result.code, result.remaining) == (True, None, 2)
    assert result.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    refused = client.validate(code, quantity=3)
    assert (refused.valid, refused.code) == (False, "insufficient_redemptions")
    unknown = client.validate(unique_code())
    assert (unknown.valid, unknown.code) == (False, "voucher_not_found")
    assert client.get_voucher(code).redeemed == 0


def test_ledger_pages_and_single_redemption(client: VoucherClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=10)["code"]
    made = [client.redeem(code, quantity=n) for n in (1, 2, 3)]
    ledger = list(client.list_redemptions(code, page_size=2))
    assert [r.id for r in ledger] == [r.id for r in reversed(made)]
    assert client.get_redemption(made[1].id) == made[1]
    with pytest.raises(RedemptionNotFound):
        client.get_redemption("rdm_" + unique_code())
    with pytest.raises(VoucherNotFound):
        list(client.list_redemptions(unique_code()))


def test_reverse_restores_once(client: VoucherClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    redemption = client.redeem(code, quantity=2)
    reversed_once = client.reverse(redemption.id)
    assert reversed_once.reversed_at is not None and reversed_once.id == redemption.id
    assert client.reverse(redemption.id).reversed_at == reversed_once.reversed_at
    assert client.get_voucher(code).remaining == 5
    with pytest.raises(RedemptionNotFound):
        client.reverse("rdm_" + unique_code())


def test_same_key_replays_and_a_different_request_is_refused(
    client: VoucherClient, api: Api
) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    key = "order-" + unique_code()
    first = client.redeem(code, quantity=2, idempotency_key=key)
    assert client.redeem(code.lower(), quantity=2, idempotency_key=key) == first
    assert ledger_sum(api, code) == (2, 1)
    with pytest.raises(IdempotencyKeyReused) as caught:
        client.redeem(code, quantity=3, idempotency_key=key)
    assert caught.value.status == 422


def test_malformed_body_maps_to_malformed_request(api: Api) -> None:
    # The client always sends valid JSON; map a real 400 from the server instead.
    response = requests.post(
        f"{api.base_url}/v1/vouchers/X/redemptions",
        data="{",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    error = error_from_response(response)
    assert isinstance(error, MalformedRequest)
    assert (error.status, error.code) == (400, "malformed_request")


def test_unknown_codes_map_to_the_class_of_their_status(api: Api) -> None:
    missing_route = error_from_response(requests.get(f"{api.base_url}/v1/nothing", timeout=10))
    assert type(missing_route) is NotFound
    assert (missing_route.status, missing_route.code) == (404, "route_not_found")
    not_allowed = error_from_response(requests.put(f"{api.base_url}/v1/vouchers", timeout=10))
    assert type(not_allowed) is ApiError
    assert (not_allowed.status, not_allowed.code) == (405, "method_not_allowed")
