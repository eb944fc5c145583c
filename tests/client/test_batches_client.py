"""Batch methods of the client against a live server."""

from __future__ import annotations

import csv
import io

import pytest

from tests.support import unique_code
from vouchers.client import (
    Batch,
    BatchNotFound,
    KeyspaceTooSmall,
    ValidationError,
    VoucherClient,
)

EXPORT_HEADER = "code,max_redemptions,redeemed,remaining,expires_at,status"


def test_create_wait_and_export(client: VoucherClient) -> None:
    prefix = unique_code("B") + "-"
    batch = client.create_batch(
        25,
        max_redemptions=3,
        expires_at="2099-01-01",
        metadata={"campaign": "spring"},
        length=8,
        prefix=prefix,
    )
    assert isinstance(batch, Batch) and batch.id and batch.count == 25
    assert batch.status in ("pending", "running", "done")
    seen: list[Batch] = []
    done = client.wait_for_batch(batch.id, timeout=60, interval=0.1, progress=seen.append)
    assert done.status == "done" and done.created == 25 and done.finished_at is not None
    assert seen and seen[-1].status == "done"
    assert client.get_batch(batch.id) == done

    lines = list(client.export_codes(batch.id))
    assert lines[0] == EXPORT_HEADER
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert len(rows) == 25 and len({row["code"] for row in rows}) == 25
    assert all(
        row["code"].startswith(prefix) and len(row["code"]) == len(prefix) + 8 for row in rows
    )
    assert {row["max_redemptions"] for row in rows} == {"3"}

    listed = {voucher.code for voucher in client.list_vouchers(batch_id=batch.id)}
    assert listed == {row["code"] for row in rows}
    assert client.get_voucher(rows[0]["code"]).batch_id == batch.id

    buffer = io.StringIO()
    assert client.export_codes(batch.id, buffer) == 25
    assert buffer.getvalue().splitlines() == lines


def test_batch_errors(client: VoucherClient) -> None:
    with pytest.raises(BatchNotFound) as caught:
        client.get_batch("bat_" + unique_code())
    assert (caught.value.status, caught.value.code) == (404, "batch_not_found")
    with pytest.raises(BatchNotFound):
        list(client.export_codes("bat_" + unique_code()))
    with pytest.raises(KeyspaceTooSmall) as small:
        client.create_batch(
            1000, max_redemptions=1, expires_at="2099-01-01", length=6, alphabet="AB"
        )
    assert small.value.status == 422
    with pytest.raises(ValidationError):
        client.create_batch(0, max_redemptions=1, expires_at="2099-01-01")
