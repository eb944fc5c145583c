"""`vouchers batch create|status|export` against a live server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.cli.conftest import Vouchers

HEADER = "code,max_redemptions,redeemed,remaining,expires_at,status"


def test_batch_create_status_export(vouchers: Vouchers, tmp_path: Path) -> None:
    made = vouchers(
        "batch", "create", "--count", "12", "--max-redemptions", "2",
        "--expires", "2099-01-01", "--prefix", "CLI-", "--length", "8", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    batch = json.loads(made.stdout)
    assert batch["status"] == "done" and batch["created"] == 12

    status = vouchers("batch", "status", batch["id"])
    assert status.returncode == 0 and "done" in status.stdout

    out = tmp_path / "codes.csv"
    exported = vouchers("batch", "export", batch["id"], "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert out.read_text().splitlines()[0] == HEADER
    assert len(rows) == 12 and all(row["code"].startswith("CLI-") for row in rows)

    to_stdout = vouchers("batch", "export", batch["id"])
    assert to_stdout.returncode == 0
    assert list(csv.DictReader(io.StringIO(to_stdout.stdout))) == rows


def test_batch_errors(vouchers: Vouchers, tmp_path: Path) -> None:
    missing = vouchers("batch", "status", "bat_nothing")
    assert missing.returncode == 1 and "batch_not_found" in missing.stderr
    out = tmp_path / "none.csv"
    no_export = vouchers("batch", "export", "bat_nothing", "-o", str(out))
    assert no_export.returncode == 1 and "batch_not_found" in no_export.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
    small = vouchers(
        "batch", "create", "--count", "1000", "--max-redemptions", "1",
        "--expires", "2099-01-01", "--length", "6", "--alphabet", "AB",
    )  # fmt: skip
    assert small.returncode == 1 and "keyspace_too_small" in small.stderr
    usage = vouchers("batch", "create", "--count", "5")
    assert usage.returncode == 2
