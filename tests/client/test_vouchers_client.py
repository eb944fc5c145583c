"""VoucherClient against a live server: voucher routes, paging, and their errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tests.support import Api, unique_code
from vouchers.client import (
    ApiError,
    CodeTaken,
    LimitBelowRedeemed,
    NotFound,
    ValidationError,
    Voucher,
    VoucherClient,
    VoucherHasRedemptions,
    VoucherNotFound,
)

FUTURE = "2099-01-01T00:00:00Z"


def test_create_returns_a_typed_voucher(client: VoucherClient) -> None:
    code = unique_code()
    voucher = client.create_voucher(
        code=code,
        max_redemptions=5,
        expires_at=FUTURE,
        per_customer_limit=2,
        metadata={"campaign": "x", "n": [1, 2]},
    )
    assert isinstance(voucher, Voucher)
    assert voucher.code == code
    assert (voucher.max_redemptions, voucher.redeemed, voucher.remaining) == (5, 0, 5)
    assert voucher.per_customer_limit == 2
    assert voucher.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert voucher.created_at.tzinfo is not None and voucher.updated_at.tzinfo is not None
    assert voucher.status == "active" and voucher.disabled is False
    assert voucher.metadata == {"campaign": "x", "n": [1, 2]}
    assert voucher.starts_at is None and voucher.batch_id is None
    assert voucher.to_dict()["expires_at"] == FUTURE


def test_create_accepts_dates_and_aware_datetimes(client: VoucherClient) -> None:
    plus_two = timezone(timedelta(hours=2))
    voucher = client.create_voucher(
        max_redemptions=1,
        expires_at=date(2098, 8, 31),
        starts_at=datetime(2098, 8, 1, 2, 0, tzinfo=plus_two),
    )
    assert len(voucher.code) == 12
    assert voucher.expires_at == datetime(2098, 9, 1, tzinfo=UTC)
    assert voucher.starts_at == datetime(2098, 8, 1, tzinfo=UTC)
    assert voucher.status == "scheduled"


def test_get_ignores_case_and_quotes_the_code(client: VoucherClient) -> None:
    code = unique_code("Mixed")
    client.create_voucher(code=code, max_redemptions=1, expires_at=FUTURE)
    assert client.get_voucher(f" {code.lower()} ").code == code
    # Characters that would change the path are quoted: they reach the voucher route.
    for hostile in ("a/b", "..", "x?status=active", "#frag"):
        with pytest.raises(ApiError) as caught:
            client.get_voucher(hostile)
        assert caught.value.code in ("validation_error", "voucher_not_found", "route_not_found")
        assert caught.value.status in (404, 422)
    with pytest.raises(ValueError):
        client.get_voucher("")


def test_unknown_code_is_voucher_not_found(client: VoucherClient) -> None:
    with pytest.raises(VoucherNotFound) as caught:
        client.get_voucher(unique_code())
    error = caught.value
    assert isinstance(error, NotFound) and isinstance(error, ApiError)
    assert error.status == 404 and error.code == "voucher_not_found"
    assert error.detail and error.request_id and error.body["type"].endswith("voucher_not_found")


def test_code_taken(client: VoucherClient) -> None:
    code = unique_code()
    client.create_voucher(code=code, max_redemptions=1, expires_at=FUTURE)
    with pytest.raises(CodeTaken) as caught:
        client.create_voucher(code=code.lower(), max_redemptions=1, expires_at=FUTURE)
    assert caught.value.status == 409


def test_validation_error_lists_the_fields(client: VoucherClient) -> None:
    with pytest.raises(ValidationError) as caught:
        client.create_voucher(max_redemptions=0, expires_at="2098-01-01T00:00:00")
    error = caught.value
    assert error.status == 422 and error.code == "validation_error"
    assert {item["field"] for item in error.errors} == {"max_redemptions", "expires_at"}


def test_list_follows_cursors_with_filters(client: VoucherClient) -> None:
    prefix = unique_code("P")
    codes = [f"{prefix}-{n}" for n in range(5)]
    for code in codes:
        client.create_voucher(code=code, max_redemptions=1, expires_at=FUTURE)
    client.update_voucher(codes[0], disabled=True)
    listed = [voucher.code for voucher in client.list_vouchers(prefix=prefix, page_size=2)]
    assert listed == codes[::-1]
    active = [v.code for v in client.list_vouchers(prefix=prefix, status="active", page_size=1)]
    assert active == codes[:0:-1]
    assert [v.code for v in client.list_vouchers(prefix=prefix, status="disabled")] == codes[:1]


def test_list_is_lazy(client: VoucherClient) -> None:
    prefix = unique_code("L")
    for n in range(3):
        client.create_voucher(code=f"{prefix}-{n}", max_redemptions=1, expires_at=FUTURE)
    iterator = client.list_vouchers(prefix=prefix, page_size=1)
    assert next(iterator).code == f"{prefix}-2"


def test_prefix_matches_literally_not_as_a_pattern(client: VoucherClient) -> None:
    """'_' in a prefix is the character itself, not LIKE's any-one-character wildcard."""
    base = unique_code("W")
    for code in (f"{base}_1", f"{base}X1", f"{base}-1", f"{base}_"):
        client.create_voucher(code=code, max_redemptions=1, expires_at=FUTURE)
    assert [v.code for v in client.list_vouchers(prefix=f"{base.lower()}_")] == [
        f"{base}_",
        f"{base}_1",
    ]
    assert [v.code for v in client.list_vouchers(prefix=f"{base}_1")] == [f"{base}_1"]
    assert len(list(client.list_vouchers(prefix=base))) == 4
    assert list(client.list_vouchers(prefix=f"{base}__")) == []
    with pytest.raises(ValidationError):
        list(client.list_vouchers(prefix=f"{base}%"))


def test_update_changes_only_given_fields(client: VoucherClient, api: Api) -> None:
    code = unique_code()
    client.create_voucher(
        code=code,
        max_redemptions=5,
        expires_at=FUTURE,
        starts_at="2020-01-01T00:00:00Z",
        per_customer_limit=3,
        metadata={"a": 1},
    )
    voucher = client.update_voucher(code, max_redemptions=7, disabled=True)
    assert (voucher.max_redemptions, voucher.disabled, voucher.status) == (7, True, "disabled")
    assert voucher.per_customer_limit == 3 and voucher.metadata == {"a": 1}
    voucher = client.update_voucher(code, starts_at=None, per_customer_limit=None, disabled=False)
    assert voucher.starts_at is None and voucher.per_customer_limit is None
    assert voucher.status == "active"
    past = datetime.now(UTC) - timedelta(minutes=1)
    assert client.update_voucher(code, expires_at=past).status == "expired"


def test_update_below_redeemed(client: VoucherClient, api: Api) -> None:
    code = api.create_voucher(max_redemptions=5)["code"]
    client.redeem(code, quantity=3)
    with pytest.raises(LimitBelowRedeemed):
        client.update_voucher(code, max_redemptions=2)
    with pytest.raises(VoucherNotFound):
        client.update_voucher(unique_code(), disabled=True)


def test_delete(client: VoucherClient) -> None:
    code = client.create_voucher(max_redemptions=1, expires_at=FUTURE).code
    assert client.delete_voucher(code) is None
    with pytest.raises(VoucherNotFound):
        client.get_voucher(code)
    with pytest.raises(VoucherNotFound):
        client.delete_voucher(code)


def test_delete_with_a_ledger_is_refused(client: VoucherClient) -> None:
    code = client.create_voucher(max_redemptions=1, expires_at=FUTURE).code
    client.reverse(client.redeem(code).id)
    with pytest.raises(VoucherHasRedemptions):
        client.delete_voucher(code)


def test_idempotent_create_is_replayed(client: VoucherClient) -> None:
    first = client.create_voucher(
        max_redemptions=2, expires_at=FUTURE, idempotency_key="k1-" + unique_code()
    )
    key = "create-" + unique_code()
    one = client.create_voucher(max_redemptions=2, expires_at=FUTURE, idempotency_key=key)
    two = client.create_voucher(max_redemptions=2, expires_at=FUTURE, idempotency_key=key)
    assert one == two and one.code != first.code
