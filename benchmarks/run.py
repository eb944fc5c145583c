"""`make bench`: redemption throughput against the stack's ceiling and raw pgbench, in one run.

Starts a PostgreSQL-backed and a SQLite-backed server (one worker process
each by default, as suits this 2-core machine; BENCH_WORKERS=N for more), then
measures with wrk: /healthz (the ceiling), one hot voucher, and redemptions
spread over 20,000 vouchers; and with pgbench the same two workloads as raw
SQL (conditional update plus ledger insert, durable commits, 32 clients) on
the same database. Prints requests per second, p50/p99 latency and the ratios,
checks every ledger against its counter, runs the bulk benchmark (bulk.py;
BENCH_SKIP_BULK=1 skips it) and writes benchmarks/out/latest.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import (
    Api,
    Server,
    create_postgres_database,
    drop_postgres_database,
)

POSTGRES_URL = os.environ.get(
    "VOUCHERS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
os.environ["VOUCHERS_TEST_POSTGRES_URL"] = POSTGRES_URL
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 64
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
SPREAD_VOUCHERS = 20_000
HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

PGBENCH_HOT = """\\set q 1
BEGIN;
UPDATE bench_vouchers SET redeemed = redeemed + :q
  WHERE id = 1 AND redeemed + :q <= max_redemptions;
INSERT INTO bench_ledger (voucher_id, quantity) VALUES (1, :q);
COMMIT;
"""
PGBENCH_SPREAD = f"""\\set id random(1, {SPREAD_VOUCHERS})
BEGIN;
UPDATE bench_vouchers SET redeemed = redeemed + 1
  WHERE id = :id AND redeemed + 1 <= max_redemptions;
INSERT INTO bench_ledger (voucher_id, quantity) VALUES (:id, 1);
COMMIT;
"""


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's packages if missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise RuntimeError(f"unexpected wrk latency {text!r}")
    number, unit = match.groups()
    return (
        float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}[unit]
    )


def run_wrk(url: str, script: str | None = None) -> dict[str, Any]:
    """Run wrk for DURATION seconds with CONNECTIONS connections; parse its summary."""
    command = [ensure_wrk(), "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency"]
    if script:
        command += ["-s", str(HERE / script)]
    result = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    output = result.stdout
    if "Requests/sec" not in output or "50%" not in output:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _milliseconds(re.search(r"^\s*50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _milliseconds(re.search(r"^\s*99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def run_pgbench(database: str, script: str) -> dict[str, Any]:
    """Run a pgbench script with 32 clients against ``database``; parse tps and latency."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            [
                "pgbench",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-n",
                "-c",
                "32",
                "-j",
                "2",
                "-T",
                str(DURATION),
                "-f",
                handle.name,
                database,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", output).group(1))  # type: ignore[union-attr]
    return {"tps": tps, "latency_avg_ms": latency}


def psql(database: str, sql: str) -> str:
    """Run SQL with psql and return its unaligned output."""
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qAtc", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def prepare_pgbench_tables(database: str) -> None:
    """Tables for the raw workloads: a counter row per voucher and a ledger."""
    psql(
        database,
        "CREATE TABLE bench_vouchers (id int PRIMARY KEY, redeemed bigint NOT NULL,"
        " max_redemptions bigint NOT NULL);"
        "CREATE TABLE bench_ledger (id bigserial PRIMARY KEY, voucher_id int NOT NULL,"
        " quantity int NOT NULL);"
        "INSERT INTO bench_vouchers SELECT g, 0, 1000000000"
        f" FROM generate_series(1, {SPREAD_VOUCHERS}) g;",
    )


async def _insert_spread_vouchers(database_url: str) -> None:
    """Insert SPREAD-0 .. SPREAD-19999 through the service's own table definition."""
    from sqlalchemy import insert

    from vouchers.db import Database, create_engine
    from vouchers.vouchers.tables import vouchers

    database = Database(create_engine(database_url, pool_size=1))
    now = datetime.now(UTC)
    rows = [
        {
            "code": f"SPREAD-{n}",
            "code_key": f"SPREAD-{n}",
            "max_redemptions": 1_000_000_000,
            "redeemed": 0,
            "expires_at": datetime(2099, 1, 1, tzinfo=UTC),
            "disabled": False,
            "metadata": {},
            "created_at": now,
            "updated_at": now,
        }
        for n in range(SPREAD_VOUCHERS)
    ]
    async with database.transaction() as connection:
        await connection.execute(insert(vouchers), rows)
    await database.dispose()


def ledger_mismatches(database_url: str) -> int:
    """Vouchers whose redeemed count differs from the sum of their unreversed ledger."""

    async def count() -> int:
        from sqlalchemy import text

        from vouchers.db import Database, create_engine

        database = Database(create_engine(database_url, pool_size=1))
        async with database.read() as connection:
            result = await connection.execute(
                text(
                    "SELECT COUNT(*) FROM vouchers v LEFT JOIN ("
                    " SELECT voucher_id, SUM(quantity) AS total FROM redemptions"
                    " WHERE reversed_at IS NULL GROUP BY voucher_id) l ON l.voucher_id = v.id"
                    " WHERE v.redeemed <> COALESCE(l.total, 0) OR v.redeemed > v.max_redemptions"
                )
            )
            mismatches = int(result.scalar() or 0)
        await database.dispose()
        return mismatches

    return asyncio.run(count())


def bench_server(database_url: str, workdir: Path, spread: bool) -> dict[str, Any]:
    """Start a server (WORKERS processes) on this database and run the wrk workloads."""
    pool = str(CONNECTIONS // WORKERS)
    env = {"VOUCHERS_DB_POOL_SIZE": pool, "VOUCHERS_LOOKUP_LIMIT": "1000000000"}
    server = Server(database_url, workdir / "data", workers=WORKERS, env=env).start()
    results: dict[str, Any] = {}
    try:
        api = Api(server.url)
        api.create_voucher(code="HOT", max_redemptions=1_000_000_000)
        if spread:
            asyncio.run(_insert_spread_vouchers(database_url))
        results["healthz"] = run_wrk(f"{server.url}/healthz")
        results["hot"] = run_wrk(f"{server.url}/v1/vouchers/HOT/redemptions", "redeem.lua")
        if spread:
            results["spread"] = run_wrk(server.url, "spread.lua")
    finally:
        server.stop()
    results["ledger_mismatches"] = ledger_mismatches(database_url)
    return results


def main() -> dict[str, Any]:
    """Run every workload once and print the figures and ratios."""
    from sqlalchemy.engine import make_url

    OUT.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}, {os.uname().release}",
        "duration_s": DURATION,
        "connections": CONNECTIONS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = create_postgres_database()
        try:
            name = make_url(url).database or ""
            report["postgres"] = bench_server(url, workdir / "pg", spread=True)
            prepare_pgbench_tables(name)
            report["postgres"]["pgbench_hot"] = run_pgbench(name, PGBENCH_HOT)
            report["postgres"]["pgbench_spread"] = run_pgbench(name, PGBENCH_SPREAD)
        finally:
            drop_postgres_database(url)
        if os.environ.get("BENCH_SKIP_SQLITE") != "1":
            sqlite_url = f"sqlite:///{workdir / 'bench.db'}"
            report["sqlite"] = bench_server(sqlite_url, workdir / "sqlite", spread=False)

    pg = report["postgres"]
    report["ratios"] = {
        "pg_hot_vs_pgbench_hot": pg["hot"]["rps"] / pg["pgbench_hot"]["tps"],
        "pg_hot_vs_healthz": pg["hot"]["rps"] / pg["healthz"]["rps"],
        "pg_spread_vs_healthz": pg["spread"]["rps"] / pg["healthz"]["rps"],
        "pg_spread_vs_pgbench_spread": pg["spread"]["rps"] / pg["pgbench_spread"]["tps"],
    }
    if "sqlite" in report:
        lite = report["sqlite"]
        report["ratios"]["sqlite_hot_vs_healthz"] = lite["hot"]["rps"] / lite["healthz"]["rps"]
    extra = HERE / "bulk.py"
    if extra.exists() and os.environ.get("BENCH_SKIP_BULK") != "1":
        sys.path.insert(0, str(HERE))
        import bulk

        report["bulk"] = bulk.main()
    print_report(report)
    (OUT / "latest.json").write_text(json.dumps(report, indent=2))
    return report


def print_report(report: dict[str, Any]) -> None:
    """A plain table of the figures and the ratios."""
    print(f"\n{report['when']}  {report['machine']}  {report['duration_s']}s per workload")
    print(f"{'workload':32} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    backends = [backend for backend in ("postgres", "sqlite") if backend in report]
    for backend in backends:
        for name in ("healthz", "hot", "spread"):
            row = report[backend].get(name)
            if row:
                print(
                    f"{backend + ' ' + name:32} {row['rps']:10.0f} {row['p50_ms']:8.1f}"
                    f" {row['p99_ms']:8.1f} {row['non_2xx']:8d}"
                )
    for name in ("pgbench_hot", "pgbench_spread"):
        row = report["postgres"][name]
        print(f"{'postgres ' + name:32} {row['tps']:10.0f} {row['latency_avg_ms']:8.1f}")
    for backend in backends:
        print(f"ledger mismatches ({backend}): {report[backend]['ledger_mismatches']}")
    print("ratios:")
    for name, value in report["ratios"].items():
        print(f"  {name:32} {value:6.2f}x")
    bulk = report.get("bulk")
    if bulk:
        pg, lite = bulk["postgres"], bulk["sqlite"]
        print(
            f"bulk, {bulk['count']:,} codes (PostgreSQL best of {len(pg['batch_runs_seconds'])}):"
        )
        print(
            f"  {'postgres batch / raw COPY':32} {pg['batch_vs_raw_copy']:6.2f}x"
            f"  ({pg['batch_seconds']} s / {pg['raw_copy_seconds']} s; target <= 1.5)"
        )
        print(
            f"  {'postgres export / raw COPY TO':32} {pg['export_vs_raw_copy_to']:6.2f}x"
            f"  ({pg['export_seconds']} s / {pg['raw_copy_to_seconds']} s; target < 2)"
        )
        print(
            f"  {'sqlite batch, export':32} {lite['batch_seconds']} s, {lite['export_seconds']} s"
        )


if __name__ == "__main__":
    main()
