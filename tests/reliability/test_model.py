"""The service against a tiny in-memory model, over random sequences of operations.

A Hypothesis state machine creates vouchers, redeems (exact and up_to, too many,
per-customer limits, unknown codes, junk bodies, idempotent retries), validates,
reverses, patches, deletes and moves the clock, and after every step checks that:

- every answer's status and error ``code`` (and the numbers it carries) are the
  ones the model predicts;
- each voucher's ``redeemed`` equals the model's and the sum of its unreversed
  ledger rows, and never exceeds ``max_redemptions``;
- each voucher's derived ``status`` equals the model's;
- each customer's usage equals the model's and never exceeds the voucher's
  ``per_customer_limit``.

The app runs in-process (``TestClient`` runs its lifespan: migrations, the
redemption engine), so ``vouchers.clock.set_offset`` moves the server's time. All
times are whole hours from a start instant taken when each example begins, and the
clock moves in whole hours, so a few seconds of real time never cross a boundary.

One fresh database per backend; each example uses its own code prefix.
Set VOUCHERS_MODEL_EXAMPLES / VOUCHERS_MODEL_STEPS for a longer run.
"""

from __future__ import annotations

import itertools
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from tests.support import ADMIN_KEY, in_process_app
from vouchers import clock
from vouchers.db import Database
from vouchers.redemptions.tables import customer_usage, redemptions
from vouchers.vouchers.tables import vouchers

EXAMPLES = int(os.environ.get("VOUCHERS_MODEL_EXAMPLES", "40"))
STEPS = int(os.environ.get("VOUCHERS_MODEL_STEPS", "40"))

NAMES = ["V0", "V1", "V2"]
CUSTOMERS = ["alice", "bob", "carol"]
TZ_OFFSETS = [timedelta(0), timedelta(hours=2), timedelta(hours=-5), timedelta(hours=5, minutes=30)]
MAX_COUNT = 1_000_000_000
# One wrong field of a redemption body each: all are 422 validation_error, before any look-up.
JUNK_REDEMPTION_FIELDS: dict[str, tuple[str, Any]] = {
    "zero": ("quantity", 0),
    "negative": ("quantity", -1),
    "too_many": ("quantity", MAX_COUNT + 1),
    "fraction": ("quantity", 1.5),
    "string": ("quantity", "2"),
    "boolean": ("quantity", True),
    "mode": ("mode", "all"),
    "empty_customer": ("customer_id", ""),
    "long_customer": ("customer_id", "c" * 129),
    "unknown_field": ("coupon", "yes"),
    "metadata_list": ("metadata", [1, 2]),
}
STORED_STATUSES = {201, 404, 409}
# One wrong field of a PATCH body each: all are 422 validation_error, before any look-up.
JUNK_PATCH_FIELDS: dict[str, tuple[str, Any]] = {
    "null_max": ("max_redemptions", None),
    "zero_max": ("max_redemptions", 0),
    "string_max": ("max_redemptions", "5"),
    "null_expiry": ("expires_at", None),
    "naive_expiry": ("expires_at", "2030-01-01T00:00:00"),
    "bad_expiry": ("expires_at", "tomorrow"),
    "null_disabled": ("disabled", None),
    "string_disabled": ("disabled", "yes"),
    "zero_limit": ("per_customer_limit", 0),
    "unknown_field": ("redeemed", 0),
}


def route_of(path: str) -> str:
    """The route template of a path, for counting answers by route."""
    parts = path.split("/")
    if len(parts) > 3:
        parts[3] = "{code}" if parts[2] == "vouchers" else "{id}"
    return "/".join(parts)


def rarely(usual: st.SearchStrategy[Any], junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``usual``, about one draw in eight from ``junk``."""
    return st.integers(0, 7).flatmap(lambda n: junk if n == 0 else usual)


@dataclass
class ModelVoucher:
    """What the model knows of one voucher; times are whole hours from the machine's start."""

    code: str
    max_redemptions: int
    expires_h: int
    starts_h: int | None
    per_customer_limit: int | None
    disabled: bool = False
    redeemed: int = 0
    ledger_rows: int = 0
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return self.max_redemptions - self.redeemed


@dataclass
class ModelRedemption:
    """One ledger row as the model remembers it."""

    body: dict[str, Any]
    key: str
    quantity: int
    customer_id: str | None
    reversed_at: str | None = None


@dataclass
class StoredAnswer:
    """An idempotent answer the server must replay."""

    path: str
    body: dict[str, Any] | None
    status: int
    response: dict[str, Any]


@dataclass(frozen=True)
class Expected:
    """The model's prediction of one answer: a status, an error code, extra fields."""

    status: int
    code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    granted: int = 0


@dataclass
class Figures:
    """What a run tried, for the report."""

    examples: int = 0
    steps: int = 0
    requests: int = 0
    granted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)


class VoucherModel(RuleBasedStateMachine):
    """Drives the in-process service and the model side by side."""

    client: ClassVar[TestClient]
    figures: ClassVar[Figures]
    _examples: ClassVar[itertools.count[int]] = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"M{next(self._examples)}{secrets.token_hex(2).upper()}-"
        self.t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        self.hours = 0
        self.vouchers: dict[str, ModelVoucher] = {}
        self.redemptions: list[ModelRedemption] = []
        self.answers: dict[str, StoredAnswer] = {}
        self.keys = itertools.count()
        clock.set_offset(timedelta(0))
        self.figures.examples += 1

    def teardown(self) -> None:
        clock.set_offset(timedelta(0))

    # ----------------------------------------------------------------- helpers

    def key_of(self, name: str) -> str:
        return (self.prefix + name).upper()

    def code_as_sent(self, name: str, variant: int) -> str:
        code = self.prefix + name
        return [code, code.lower(), code.swapcase()][variant % 3]

    def at(self, hours: int, offset: timedelta = timedelta(0)) -> str:
        stamp = (self.t0 + timedelta(hours=hours)).astimezone(timezone(offset)).isoformat()
        return stamp.replace("+00:00", "Z") if offset == timedelta(0) else stamp

    def instant(self, hours: int | None) -> datetime | None:
        return None if hours is None else self.t0 + timedelta(hours=hours)

    def status_of(self, voucher: ModelVoucher) -> str:
        if voucher.disabled:
            return "disabled"
        if self.hours >= voucher.expires_h:
            return "expired"
        if voucher.starts_h is not None and self.hours < voucher.starts_h:
            return "scheduled"
        if voucher.remaining <= 0:
            return "exhausted"
        return "active"

    def send(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        self.figures.requests += 1
        response = self.client.request(method, path, **kwargs)
        label = f"{method} {route_of(path)} {response.status_code}"
        self.figures.answers[label] = self.figures.answers.get(label, 0) + 1
        assert response.status_code < 500, f"{method} {path}: {response.text}"
        return response

    def expect(self, response: httpx2.Response, expected: Expected) -> dict[str, Any]:
        """Assert the answer is the predicted one; return its JSON body."""
        where = f"{response.request.method} {response.request.url}"
        assert response.status_code == expected.status, (where, expected, response.text)
        if expected.status == 204:
            return {}
        body: dict[str, Any] = response.json()
        if expected.code is None:
            assert response.headers["content-type"].startswith("application/json"), where
            return body
        self.figures.rejected[expected.code] = self.figures.rejected.get(expected.code, 0) + 1
        assert response.headers["content-type"].startswith("application/problem+json"), where
        assert body["code"] == expected.code, (where, expected, body)
        assert body["status"] == expected.status
        assert body["type"] == f"/problems/{expected.code}"
        assert body["request_id"] and body["title"] and body["detail"]
        for name, value in expected.extra.items():
            assert body.get(name) == value, (where, name, value, body)
        return body

    def check_voucher(self, document: dict[str, Any], voucher: ModelVoucher) -> None:
        """A voucher document equals the model's voucher."""
        assert document["code"] == voucher.code
        assert document["max_redemptions"] == voucher.max_redemptions
        assert document["redeemed"] == voucher.redeemed
        assert document["remaining"] == voucher.remaining
        assert document["per_customer_limit"] == voucher.per_customer_limit
        assert document["disabled"] == voucher.disabled
        assert document["status"] == self.status_of(voucher), (document, self.hours)
        assert datetime.fromisoformat(document["expires_at"]) == self.instant(voucher.expires_h)
        starts_at = document["starts_at"]
        assert (starts_at and datetime.fromisoformat(starts_at)) == self.instant(voucher.starts_h)

    # ---------------------------------------------------------- the prediction

    def predict_redeem(
        self, name: str, body: dict[str, Any] | None, *, valid_body: bool
    ) -> Expected:
        """What redeem answers for this body: the contract's checks, in its order."""
        if not valid_body:
            return Expected(422, "validation_error")
        voucher = self.vouchers.get(name)
        if voucher is None:
            return Expected(404, "voucher_not_found")
        body = body or {}
        quantity = body.get("quantity", 1)
        customer = body.get("customer_id")
        if voucher.per_customer_limit is not None and customer is None:
            return Expected(422, "validation_error")
        if voucher.disabled:
            return Expected(409, "voucher_disabled")
        if self.hours >= voucher.expires_h:
            return Expected(409, "voucher_expired")
        if voucher.starts_h is not None and self.hours < voucher.starts_h:
            return Expected(409, "voucher_not_started")
        remaining = voucher.remaining
        if remaining <= 0:
            return Expected(409, "voucher_exhausted")
        available = remaining
        if voucher.per_customer_limit is not None:
            assert customer is not None
            left = voucher.per_customer_limit - voucher.usage.get(customer, 0)
            if left <= 0:
                return Expected(409, "customer_limit_reached", {"customer_remaining": 0})
            available = min(available, left)
        if body.get("mode") == "up_to":
            return Expected(201, granted=min(quantity, available))
        if quantity > remaining:
            return Expected(409, "insufficient_redemptions", {"remaining": remaining})
        if quantity > available:
            return Expected(409, "customer_limit_reached", {"customer_remaining": available})
        return Expected(201, granted=quantity)

    def apply_redeem(self, name: str, expected: Expected, document: dict[str, Any]) -> None:
        """Record a granted redemption in the model and check its document."""
        voucher = self.vouchers[name]
        customer = document["customer_id"]
        voucher.redeemed += expected.granted
        voucher.ledger_rows += 1
        if customer is not None:
            voucher.usage[customer] = voucher.usage.get(customer, 0) + expected.granted
            if voucher.per_customer_limit is not None:
                assert voucher.usage[customer] <= voucher.per_customer_limit
        assert voucher.redeemed <= voucher.max_redemptions
        assert document["code"] == voucher.code
        assert document["quantity"] == expected.granted
        assert document["remaining"] == voucher.remaining
        assert document["reversed_at"] is None
        assert document["id"] not in {r.body["id"] for r in self.redemptions}
        self.figures.granted += expected.granted
        self.redemptions.append(
            ModelRedemption(document, self.key_of(name), expected.granted, customer)
        )

    # ------------------------------------------------------------------- rules

    @initialize(
        maxima=st.tuples(st.integers(1, 6), st.integers(1, 6)),
        limit=st.one_of(st.none(), st.integers(1, 3)),
        taken=st.integers(0, 3),
    )
    def two_vouchers(self, maxima: tuple[int, int], limit: int | None, taken: int) -> None:
        """Start with two active vouchers (the second maybe with a per-customer limit), used."""
        self.create(NAMES[0], 0, maxima[0], 24, None, None, timedelta(0))
        self.create(NAMES[1], 0, maxima[1], 24, None, limit, timedelta(0))
        if taken:
            self.redeem(NAMES[0], 0, taken, "up_to", None, None, False, 1)
        self.redeem(NAMES[1], 0, None, None, CUSTOMERS[0], None, False, 1)

    @rule(
        name=st.sampled_from(NAMES),
        variant=st.integers(0, 2),
        max_redemptions=rarely(st.integers(1, 6), st.sampled_from([0, MAX_COUNT + 1])),
        expires_in=rarely(st.integers(1, 8), st.integers(-1, 0)),
        starts_in=st.one_of(st.none(), st.integers(-3, 6)),
        per_customer_limit=st.one_of(st.none(), st.integers(1, 3)),
        tz=st.sampled_from(TZ_OFFSETS),
    )
    def create(
        self,
        name: str,
        variant: int,
        max_redemptions: int,
        expires_in: int,
        starts_in: int | None,
        per_customer_limit: int | None,
        tz: timedelta,
    ) -> None:
        """Create a voucher; past expiries, inverted windows and bad limits are 422."""
        expires_h = self.hours + expires_in
        starts_h = None if starts_in is None else self.hours + starts_in
        body: dict[str, Any] = {
            "code": self.code_as_sent(name, variant),
            "max_redemptions": max_redemptions,
            "expires_at": self.at(expires_h, tz),
        }
        if starts_h is not None:
            body["starts_at"] = self.at(starts_h, tz)
        if per_customer_limit is not None:
            body["per_customer_limit"] = per_customer_limit
        bad_window = starts_h is not None and expires_h <= starts_h
        if not 1 <= max_redemptions <= MAX_COUNT or expires_h <= self.hours or bad_window:
            expected = Expected(422, "validation_error")
        elif name in self.vouchers:
            expected = Expected(409, "code_taken")
        else:
            expected = Expected(201)
        document = self.expect(self.send("POST", "/v1/vouchers", json=body), expected)
        if expected.status == 201:
            voucher = ModelVoucher(
                body["code"], max_redemptions, expires_h, starts_h, per_customer_limit
            )
            self.vouchers[name] = voucher
            self.check_voucher(document, voucher)

    @rule(
        name=st.sampled_from(NAMES),
        variant=st.integers(0, 3),
        quantity=st.one_of(st.none(), st.integers(1, 4), st.integers(5, 8)),
        mode=st.sampled_from([None, "exact", "up_to"]),
        customer=rarely(st.sampled_from(CUSTOMERS), st.none()),
        junk=rarely(st.none(), st.sampled_from(sorted(JUNK_REDEMPTION_FIELDS))),
        keyed=st.booleans(),
        times=st.integers(1, 3),
    )
    def redeem(
        self,
        name: str,
        variant: int,
        quantity: int | None,
        mode: str | None,
        customer: str | None,
        junk: str | None,
        keyed: bool,
        times: int,
    ) -> None:
        """Redeem (1-3 times alike), maybe with an Idempotency-Key; compare with the model."""
        body: dict[str, Any] = {}
        if quantity is not None:
            body["quantity"] = quantity
        if mode is not None:
            body["mode"] = mode
        if customer is not None:
            body["customer_id"] = customer
        if junk is not None:
            field_name, value = JUNK_REDEMPTION_FIELDS[junk]
            body[field_name] = value
        code = self.code_as_sent(name, variant)
        if variant == 3 and not keyed:
            code = f"%20{self.prefix + name}%20"  # look-ups ignore surrounding whitespace
        path = f"/v1/vouchers/{code}/redemptions"
        sent = body or None
        for _ in range(times):
            headers = {}
            key = None
            if keyed:
                key = f"{self.prefix}key-{next(self.keys)}"
                headers["Idempotency-Key"] = key
            expected = self.predict_redeem(name, body, valid_body=junk is None)
            response = self.send("POST", path, json=sent, headers=headers)
            document = self.expect(response, expected)
            assert "Idempotent-Replayed" not in response.headers
            if expected.status == 201:
                self.apply_redeem(name, expected, document)
            if key is not None and expected.status in STORED_STATUSES:
                self.answers[key] = StoredAnswer(path, sent, expected.status, document)

    @precondition(lambda self: bool(self.answers))
    @rule(pick=st.integers(0, 10_000), same=st.booleans())
    def retry_with_key(self, pick: int, same: bool) -> None:
        """Send a stored key again: the same request is replayed; another is 422."""
        key = sorted(self.answers)[pick % len(self.answers)]
        stored = self.answers[key]
        headers = {"Idempotency-Key": key}
        if same:
            # The code's case may differ: codes are compared case-insensitively.
            path = stored.path.swapcase().replace("/V1/VOUCHERS/", "/v1/vouchers/")
            path = path.replace("/REDEMPTIONS", "/redemptions")
            response = self.send("POST", path, json=stored.body, headers=headers)
            assert response.status_code == stored.status, response.text
            assert response.json() == stored.response
            assert response.headers.get("Idempotent-Replayed") == "true"
        else:
            different = {**(stored.body or {}), "metadata": {"retry": pick}}
            response = self.send("POST", stored.path, json=different, headers=headers)
            self.expect(response, Expected(422, "idempotency_key_reused"))

    @rule(
        name=st.sampled_from(NAMES),
        variant=st.integers(0, 2),
        quantity=rarely(st.one_of(st.none(), st.integers(1, 7)), st.just(0)),
        mode=st.sampled_from([None, "exact", "up_to"]),
        customer=st.one_of(st.none(), st.sampled_from(CUSTOMERS)),
    )
    def validate(
        self, name: str, variant: int, quantity: int | None, mode: str | None, customer: str | None
    ) -> None:
        """Validate is the same decision as redeem, answered as 200, and changes nothing."""
        body: dict[str, Any] = {}
        if quantity is not None:
            body["quantity"] = quantity
        if mode is not None:
            body["mode"] = mode
        if customer is not None:
            body["customer_id"] = customer
        valid = quantity is None or quantity >= 1
        expected = self.predict_redeem(name, body, valid_body=valid)
        path = f"/v1/vouchers/{self.code_as_sent(name, variant)}/validate"
        response = self.send("POST", path, json=body or None)
        if expected.status == 422:
            self.expect(response, expected)
            return
        document = self.expect(response, Expected(200))
        voucher = self.vouchers.get(name)
        assert document["valid"] == (expected.status == 201), (document, expected)
        assert document["code"] == expected.code
        assert document["remaining"] == (voucher.remaining if voucher else 0)
        expires_at = document["expires_at"]
        assert (expires_at and datetime.fromisoformat(expires_at)) == (
            self.instant(voucher.expires_h) if voucher else None
        )

    @precondition(lambda self: bool(self.redemptions))
    @rule(pick=st.integers(0, 10_000), unknown=rarely(st.just(False), st.just(True)))
    def reverse(self, pick: int, unknown: bool) -> None:
        """Reverse a redemption (maybe one already reversed, or an unknown id)."""
        if unknown:
            path = f"/v1/redemptions/rdm_{self.prefix}NOSUCH/reversal"
            self.expect(self.send("POST", path), Expected(404, "redemption_not_found"))
            return
        redemption = self.redemptions[pick % len(self.redemptions)]
        response = self.send("POST", f"/v1/redemptions/{redemption.body['id']}/reversal")
        document = self.expect(response, Expected(200))
        assert {k: v for k, v in document.items() if k != "reversed_at"} == {
            k: v for k, v in redemption.body.items() if k != "reversed_at"
        }
        assert document["reversed_at"] is not None
        if redemption.reversed_at is not None:
            assert document["reversed_at"] == redemption.reversed_at  # unchanged
            return
        redemption.reversed_at = document["reversed_at"]
        voucher = next(v for v in self.vouchers.values() if v.code.upper() == redemption.key)
        voucher.redeemed -= redemption.quantity
        if redemption.customer_id is not None:
            voucher.usage[redemption.customer_id] -= redemption.quantity

    @rule(
        name=st.sampled_from(NAMES),
        variant=st.integers(0, 2),
        new_max=st.one_of(st.none(), st.sampled_from(["below", "below", "at"]), st.integers(1, 8)),
        expires_in=st.one_of(st.none(), st.integers(-2, 8)),
        starts=st.sampled_from(["keep", "null", "set"]),
        starts_in=st.integers(-3, 4),
        disabled=st.one_of(st.none(), st.booleans()),
        limit=st.sampled_from(["keep", "null", "raise"]),
        junk=rarely(st.none(), st.sampled_from(sorted(JUNK_PATCH_FIELDS))),
    )
    def patch(
        self,
        name: str,
        variant: int,
        new_max: int | str | None,
        expires_in: int | None,
        starts: str,
        starts_in: int,
        disabled: bool | None,
        limit: str,
        junk: str | None,
    ) -> None:
        """Change a voucher; below-redeemed limits are 409, inverted windows 422."""
        voucher = self.vouchers.get(name)
        redeemed = voucher.redeemed if voucher else 0
        body: dict[str, Any] = {}
        if new_max == "below" and redeemed >= 2:
            body["max_redemptions"] = redeemed - 1
        elif new_max == "at" and redeemed >= 1:
            body["max_redemptions"] = redeemed
        elif isinstance(new_max, int):
            body["max_redemptions"] = new_max
        if expires_in is not None:
            body["expires_at"] = self.at(self.hours + expires_in)
        if starts == "null":
            body["starts_at"] = None
        elif starts == "set":
            body["starts_at"] = self.at(self.hours + starts_in, timedelta(hours=2))
        if disabled is not None:
            body["disabled"] = disabled
        if limit == "null":
            body["per_customer_limit"] = None
        elif limit == "raise":  # never below a customer's usage, so usage <= limit holds
            used = max(voucher.usage.values(), default=0) if voucher else 0
            body["per_customer_limit"] = max(used, 1) + 1
        if junk is not None:
            field_name, value = JUNK_PATCH_FIELDS[junk]
            body[field_name] = value

        maximum = body.get("max_redemptions")
        if junk is not None:
            expected = Expected(422, "validation_error")
        elif voucher is None:
            expected = Expected(404, "voucher_not_found")
        else:
            expires_h = voucher.expires_h if expires_in is None else self.hours + expires_in
            starts_h = {"keep": voucher.starts_h, "null": None, "set": self.hours + starts_in}[
                starts
            ]
            if starts_h is not None and expires_h <= starts_h:
                expected = Expected(422, "validation_error")
            elif maximum is not None and maximum < voucher.redeemed:
                expected = Expected(409, "limit_below_redeemed", {"redeemed": voucher.redeemed})
            else:
                expected = Expected(200)
                voucher.expires_h, voucher.starts_h = expires_h, starts_h
                if maximum is not None:
                    voucher.max_redemptions = maximum
                if disabled is not None:
                    voucher.disabled = disabled
                if "per_customer_limit" in body:
                    voucher.per_customer_limit = body["per_customer_limit"]
        path = f"/v1/vouchers/{self.code_as_sent(name, variant)}"
        document = self.expect(self.send("PATCH", path, json=body), expected)
        if expected.status == 200:
            assert voucher is not None
            self.check_voucher(document, voucher)

    @precondition(lambda self: len(self.vouchers) >= 2)
    @rule(name=st.sampled_from(NAMES), variant=st.integers(0, 2))
    def delete(self, name: str, variant: int) -> None:
        """Delete: 204 with an empty ledger, else 409 (reversed rows count too)."""
        voucher = self.vouchers.get(name)
        if voucher is None:
            expected = Expected(404, "voucher_not_found")
        elif voucher.ledger_rows:
            expected = Expected(409, "voucher_has_redemptions")
        else:
            expected = Expected(204)
            del self.vouchers[name]
        path = f"/v1/vouchers/{self.code_as_sent(name, variant)}"
        self.expect(self.send("DELETE", path), expected)

    @rule(step=st.sampled_from([-2, -1, 1, 1, 2, 3, 6, 24]))
    def move_clock(self, step: int) -> None:
        """Move the server's clock (and the model's) by whole hours."""
        self.hours += step
        clock.set_offset(timedelta(hours=self.hours))

    # -------------------------------------------------------------- invariants

    @invariant()
    def matches_the_model(self) -> None:
        """Counters, ledger, usage and status agree with the model; no limit is exceeded."""
        self.figures.steps += 1
        listed = self.send("GET", "/v1/vouchers", params={"prefix": self.prefix, "limit": 1000})
        documents = {item["code"].upper(): item for item in listed.json()["items"]}
        assert set(documents) == {self.key_of(name) for name in self.vouchers}
        for name, voucher in self.vouchers.items():
            self.check_voucher(documents[self.key_of(name)], voucher)

        database: Database = self.client.app.state.database  # type: ignore[attr-defined]
        stored = self.client.portal.call(read_counts, database, self.prefix.upper())  # type: ignore[union-attr]
        for name, voucher in self.vouchers.items():
            redeemed, maximum, ledger, usage = stored[self.key_of(name)]
            assert redeemed == ledger == voucher.redeemed, (name, redeemed, ledger, voucher)
            assert redeemed <= maximum
            assert usage == {c: n for c, n in voucher.usage.items() if n or c in usage}
            if voucher.per_customer_limit is not None:
                assert all(n <= voucher.per_customer_limit for n in usage.values())


async def read_counts(
    database: Database, prefix: str
) -> dict[str, tuple[int, int, int, dict[str, int]]]:
    """Per code key: (redeemed, max_redemptions, unreversed ledger sum, usage by customer)."""
    async with database.read() as connection:
        rows = (
            await connection.execute(
                select(
                    vouchers.c.id,
                    vouchers.c.code_key,
                    vouchers.c.redeemed,
                    vouchers.c.max_redemptions,
                ).where(vouchers.c.code_key.startswith(prefix, autoescape=True))
            )
        ).all()
        ids = [row.id for row in rows]
        sums = dict(
            (
                await connection.execute(
                    select(redemptions.c.voucher_id, func.sum(redemptions.c.quantity))
                    .where(redemptions.c.voucher_id.in_(ids), redemptions.c.reversed_at.is_(None))
                    .group_by(redemptions.c.voucher_id)
                )
            ).all()
        )
        usage: dict[int, dict[str, int]] = {}
        for voucher_id, customer, count in await connection.execute(
            select(
                customer_usage.c.voucher_id, customer_usage.c.customer_id, customer_usage.c.redeemed
            ).where(customer_usage.c.voucher_id.in_(ids))
        ):
            usage.setdefault(voucher_id, {})[customer] = count
    return {
        row.code_key: (
            row.redeemed,
            row.max_redemptions,
            int(sums.get(row.id, 0)),
            usage.get(row.id, {}),
        )
        for row in rows
    }


@pytest.mark.slow
def test_service_matches_model(
    fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Random operation sequences never make the service and the model disagree."""
    app = in_process_app(fresh_db, tmp_path / "data", lookup_limit=1_000_000)
    figures = Figures()
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
            VoucherModel.client = client
            VoucherModel.figures = figures
            run_state_machine_as_test(
                VoucherModel,
                settings=settings(
                    max_examples=EXAMPLES,
                    stateful_step_count=STEPS,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
    finally:
        clock.set_offset(timedelta(0))
    with capsys.disabled():
        print(
            f"\nmodel: {figures.examples} examples, {figures.steps} steps, "
            f"{figures.requests} requests, {figures.granted} redemptions granted, "
            f"rejections {dict(sorted(figures.rejected.items()))}, "
            f"answers {dict(sorted(figures.answers.items()))}"
        )
    assert figures.steps >= EXAMPLES
