"""The `vouchers` command against a live server: every command, --json, and exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.cli.conftest import Vouchers
from tests.support import ADMIN_KEY, free_port, unique_code


def create(vouchers: Vouchers, *extra: str, code: str | None = None) -> dict[str, object]:
    """Create a voucher with the CLI and return its JSON."""
    args = ["create", "--max-redemptions", "5", "--expires", "2099-01-01", "--json", *extra]
    if code:
        args += ["--code", code]
    result = vouchers(*args)
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_create_get_list_for_people_and_scripts(vouchers: Vouchers) -> None:
    code = unique_code("Cli")
    result = vouchers(
        "create", "--code", code, "--max-redemptions", "5", "--expires", "2099-01-01",
        "--starts", "2020-01-01", "--per-customer-limit", "2", "--metadata", '{"a": 1}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert code in result.stdout and "active" in result.stdout
    assert "2099-01-02T00:00:00Z" in result.stdout

    got = vouchers("get", code.lower(), "--json")
    assert got.returncode == 0
    voucher = json.loads(got.stdout)
    assert voucher["code"] == code and voucher["per_customer_limit"] == 2
    assert voucher["metadata"] == {"a": 1} and voucher["expires_at"] == "2099-01-02T00:00:00Z"
    assert vouchers("--json", "get", code).stdout == got.stdout  # --json before the command too

    prefix = unique_code("Lst")
    for n in range(3):
        create(vouchers, code=f"{prefix}-{n}")
    table = vouchers("list", "--prefix", prefix)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["CODE", "STATUS", "REDEEMED"]
    assert [line.split()[0] for line in lines[1:]] == [f"{prefix}-{n}" for n in (2, 1, 0)]
    limited = json.loads(vouchers("list", "--prefix", prefix, "--limit", "2", "--json").stdout)
    assert [item["code"] for item in limited] == [f"{prefix}-2", f"{prefix}-1"]
    everything = json.loads(vouchers("list", "--prefix", prefix, "--limit", "0", "--json").stdout)
    assert len(everything) == 3


def test_update_and_delete(vouchers: Vouchers) -> None:
    code = str(create(vouchers, "--per-customer-limit", "2")["code"])
    updated = vouchers(
        "update", code, "--max-redemptions", "9", "--disable", "--per-customer-limit", "none",
        "--json",
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    voucher = json.loads(updated.stdout)
    assert voucher["max_redemptions"] == 9 and voucher["status"] == "disabled"
    assert voucher["per_customer_limit"] is None
    enabled = json.loads(vouchers("update", code, "--enable", "--json").stdout)
    assert enabled["status"] == "active"

    nothing = vouchers("update", code)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr

    deleted = vouchers("delete", code)
    assert deleted.returncode == 0 and f"deleted {code}" in deleted.stdout
    gone = vouchers("get", code)
    assert gone.returncode == 1
    assert "voucher_not_found" in gone.stderr and gone.stdout == ""


def test_redeem_validate_redemptions_reverse(vouchers: Vouchers) -> None:
    code = str(create(vouchers)["code"])
    redeemed = vouchers("redeem", code, "--quantity", "2", "--customer", "ann", "--json")
    assert redeemed.returncode == 0, redeemed.stderr
    redemption = json.loads(redeemed.stdout)
    assert redemption["quantity"] == 2 and redemption["remaining"] == 3
    assert redemption["customer_id"] == "ann"

    valid = vouchers("validate", code, "--quantity", "3")
    assert valid.returncode == 0 and "valid (3 remaining)" in valid.stdout
    refused = vouchers("validate", code, "--quantity", "4", "--json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["code"] == "insufficient_redemptions"

    too_many = vouchers("redeem", code, "--quantity", "4")
    assert too_many.returncode == 1
    assert "insufficient_redemptions" in too_many.stderr
    up_to = json.loads(
        vouchers("redeem", code, "--quantity", "4", "--mode", "up_to", "--json").stdout
    )
    assert up_to["quantity"] == 3

    ledger = vouchers("redemptions", code)
    assert ledger.returncode == 0
    assert ledger.stdout.splitlines()[0].split()[0] == "ID"
    assert redemption["id"] in ledger.stdout and "ann" in ledger.stdout

    reversed_out = vouchers("reverse", redemption["id"], "--json")
    assert reversed_out.returncode == 0
    assert json.loads(reversed_out.stdout)["reversed_at"] is not None
    remaining = json.loads(vouchers("get", code, "--json").stdout)["remaining"]
    assert remaining == 2


def test_api_errors_exit_1_with_code_and_detail(vouchers: Vouchers) -> None:
    code = str(create(vouchers)["code"])
    taken = vouchers("create", "--code", code, "--max-redemptions", "1", "--expires", "2099-01-01")
    assert taken.returncode == 1
    assert "code_taken" in taken.stderr and code in taken.stderr
    invalid = vouchers("create", "--max-redemptions", "0", "--expires", "2099-01-01", "--json")
    assert invalid.returncode == 1
    assert "max_redemptions" in invalid.stderr
    assert json.loads(invalid.stdout)["code"] == "validation_error"
    unauthorized = vouchers("get", code, key="wrong-key-0123456789abcdef")
    assert unauthorized.returncode == 1
    assert "unauthorized" in unauthorized.stderr and "--key" in unauthorized.stderr


def test_usage_errors_exit_2(vouchers: Vouchers) -> None:
    assert vouchers().returncode == 2
    assert vouchers("create", "--max-redemptions", "5").returncode == 2
    assert vouchers("create", "--max-redemptions", "x", "--expires", "2099-01-01").returncode == 2
    bad_json = vouchers(
        "create", "--max-redemptions", "1", "--expires", "2099-01-01", "--metadata", "[1]"
    )
    assert bad_json.returncode == 2 and "JSON object" in bad_json.stderr
    assert vouchers("redeem", "X", "--mode", "some").returncode == 2
    assert vouchers("list", "--status", "nope").returncode == 2
    assert vouchers("frobnicate").returncode == 2


def test_unreachable_server_is_a_clear_error(vouchers: Vouchers) -> None:
    result = vouchers("get", "X", url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot reach the voucher service" in result.stderr
    assert "Traceback" not in result.stderr


def test_url_and_key_given_as_options(vouchers: Vouchers) -> None:
    code = str(create(vouchers)["code"])
    given = ("--url", vouchers.url, "--key", ADMIN_KEY)
    before = vouchers(*given, "get", code, "--json", configured=False)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["code"] == code
    after = vouchers("get", code, *given, configured=False)  # after the command name too
    assert after.returncode == 0, after.stderr
    no_key = vouchers("get", code, "--url", vouchers.url, configured=False)
    assert no_key.returncode == 1 and "unauthorized" in no_key.stderr


def test_default_url_is_local_port_8000(vouchers: Vouchers) -> None:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        if probe.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.skip("something listens on 127.0.0.1:8000 here")
    result = vouchers("get", "X", configured=False)
    assert result.returncode == 1
    assert "cannot reach the voucher service at http://127.0.0.1:8000." in result.stderr


def test_key_from_the_data_directory(vouchers: Vouchers, tmp_path: Path) -> None:
    code = str(create(vouchers)["code"])
    data = tmp_path / "data"
    data.mkdir()
    (data / "admin_key").write_text(ADMIN_KEY + "\n")
    assert vouchers("get", code, key=None).returncode == 0  # ./data/admin_key
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "admin_key").write_text(ADMIN_KEY)
    from_env = vouchers("get", code, key=None, env={"VOUCHERS_DATA_DIR": str(elsewhere)})
    assert from_env.returncode == 0
    (data / "admin_key").unlink()
    assert vouchers("get", code, key=None).returncode == 1


def test_import_reports_every_bad_row(vouchers: Vouchers, tmp_path: Path) -> None:
    prefix = unique_code("Imp")
    existing = str(create(vouchers)["code"])
    rows = [
        "code,max_redemptions,expires_at,starts_at,per_customer_limit,metadata",
        f"{prefix}-1,5,2099-01-01,,,",
        f"{prefix}-2,lots,2099-01-01,,,",  # line 3: not a number
        f"{prefix}-3,5,2020-01-01,,,",  # line 4: already expired
        f'{prefix}-4,5,2099-01-01,2098-01-01,2,"{{""tier"": ""gold""}}"',
        f"{existing},5,2099-01-01,,,",  # line 6: code taken
        "",
        f"{prefix}-5,5,2099-01-01,,,not json",  # line 8
        ",7,2099-01-01,,,",  # generated code
    ]
    path = tmp_path / "vouchers.csv"
    path.write_text("\n".join(rows) + "\n")
    result = vouchers("import", str(path))
    assert result.returncode == 1
    assert "line 3: invalid_row: max_redemptions: 'lots'" in result.stderr
    assert "line 4: validation_error" in result.stderr and "expires_at" in result.stderr
    assert "line 6: code_taken" in result.stderr
    assert "line 8: invalid_row: metadata" in result.stderr
    assert "imported 3 of 7 rows, 4 failed" in result.stderr
    gold = json.loads(vouchers("get", f"{prefix}-4", "--json").stdout)
    assert gold["metadata"] == {"tier": "gold"} and gold["per_customer_limit"] == 2

    again = vouchers("import", str(path), "--skip-existing", "--json")
    assert again.returncode == 1
    report = json.loads(again.stdout)
    assert report["total"] == 7 and report["created"] == 1  # only the generated-code row
    assert [item["line"] for item in report["skipped"]] == [2, 5, 6]
    assert [item["line"] for item in report["failed"]] == [3, 4, 8]


def test_import_of_a_clean_file_and_a_bad_header(vouchers: Vouchers, tmp_path: Path) -> None:
    prefix = unique_code("Ok")
    good = tmp_path / "good.csv"
    good.write_text(
        f"code,max_redemptions,expires_at\n{prefix}-1,1,2099-01-01\n{prefix}-2,2,2099-01-01\n"
    )
    result = vouchers("import", str(good))
    assert result.returncode == 0, result.stderr
    assert "imported 2 of 2 rows" in result.stderr
    from_stdin = vouchers(
        "import", "-", stdin=f"code,max_redemptions,expires_at\n{prefix}-3,1,2099-01-01\n"
    )
    assert from_stdin.returncode == 0

    bad = tmp_path / "bad.csv"
    bad.write_text("code,max,expires_at\nX,1,2099-01-01\n")
    refused = vouchers("import", str(bad))
    assert refused.returncode == 1
    assert "missing column(s): max_redemptions" in refused.stderr
    assert "unknown column(s): max" in refused.stderr
    missing = vouchers("import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_import_stops_at_a_wrong_key(vouchers: Vouchers, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("code,max_redemptions,expires_at\nK1,1,2099-01-01\nK2,1,2099-01-01\n")
    result = vouchers("import", str(path), key="wrong-key-0123456789abcdef")
    assert result.returncode == 1
    assert "line 2: unauthorized" in result.stderr
    assert "stopped at line 2: 1 row not attempted" in result.stderr


def test_import_stops_loudly_when_the_server_goes_away(vouchers: Vouchers, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("code,max_redemptions,expires_at\nA1,1,2099-01-01\nA2,1,2099-01-01\n")
    result = vouchers("import", str(path), url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "line 2: cannot reach" in result.stderr
    assert "stopped at line 2: 2 rows not attempted" in result.stderr


def test_serve_and_migrate_keep_working(vouchers: Vouchers, tmp_path: Path) -> None:
    serve_help = vouchers("serve", "--help")
    assert serve_help.returncode == 0
    for option in ("--host", "--port", "--workers", "--reload"):
        assert option in serve_help.stdout
    database = f"sqlite:///{tmp_path / 'migrated.db'}"
    migrated = vouchers("migrate", env={"VOUCHERS_DATABASE_URL": database})
    assert migrated.returncode == 0, migrated.stderr
    assert "database is up to date" in migrated.stdout
    assert (tmp_path / "migrated.db").exists()
