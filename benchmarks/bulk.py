"""Bulk generation benchmark: a 1,000,000-code batch and its CSV export, against raw COPY.

Run it standalone (``python benchmarks/bulk.py``) or call ``main()``, which
returns the figures as a dict. It needs PostgreSQL at
``VOUCHERS_BENCH_POSTGRES_URL`` (else ``VOUCHERS_TEST_POSTGRES_URL``, else
``postgresql://postgres@127.0.0.1:5432/postgres``); it creates and drops its
own databases there, and uses a temporary SQLite file.

Measured, on each backend, through real server processes and the HTTP API:
- batch: POST /v1/batches with count=1,000,000, until GET shows ``done``
  (on PostgreSQL best of two, each followed by its raw COPY baselines, so a
  noisy moment hits both sides);
- export: GET /v1/batches/{id}/codes, the whole CSV downloaded.

Baselines, PostgreSQL only, on the same server in the same run:
- raw COPY: asyncpg ``copy_records_to_table`` of 1,000,000 random 12-character
  codes (made beforehand) into a one-column table with a unique index;
- raw COPY, voucher-shaped: the same codes into a copy of the vouchers table
  (all its columns, constraints and its three indexes), in the binary rows the
  batch itself sends, on one connection (the batch uses two);
- raw COPY TO: ``COPY (SELECT the export columns ...) TO STDOUT`` of the same
  rows, read by asyncpg.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import asyncpg
import requests
from tests.support import (
    ADMIN_KEY,
    POSTGRES_ENV,
    Server,
    create_postgres_database,
    drop_postgres_database,
)

from vouchers.batches.generator import CodeGenerator, CodeSpec
from vouchers.batches.repository import VOUCHER_COLUMNS, binary_copy_rows

COUNT = 1_000_000
EXPORT_RUNS = 2
BATCH_RUNS = 2
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def run_batch(base_url: str, count: int = COUNT) -> tuple[str, float]:
    """Create a batch through the API and time it until done; return (id, seconds)."""
    body = {"count": count, "max_redemptions": 1, "expires_at": "2099-01-01"}
    started = time.perf_counter()
    response = requests.post(f"{base_url}/v1/batches", json=body, headers=HEADERS, timeout=30)
    response.raise_for_status()
    batch_id = str(response.json()["id"])
    while True:
        batch = requests.get(f"{base_url}/v1/batches/{batch_id}", headers=HEADERS, timeout=30)
        status = batch.json()["status"]
        if status == "done":
            return batch_id, time.perf_counter() - started
        if status == "failed":
            raise RuntimeError(f"batch failed: {batch.json()}")
        time.sleep(0.05)


def run_export(base_url: str, batch_id: str) -> tuple[int, int, float]:
    """Download the batch's CSV; return (rows, bytes, seconds)."""
    started = time.perf_counter()
    rows = size = 0
    with requests.get(
        f"{base_url}/v1/batches/{batch_id}/codes", headers=HEADERS, stream=True, timeout=60
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 20):
            size += len(chunk)
            rows += chunk.count(b"\n")
    return rows - 1, size, time.perf_counter() - started


async def raw_copy_in(url: str, codes: list[str], *, voucher_shaped: bool) -> float:
    """Seconds for one asyncpg COPY (and commit) of the codes into a new indexed table."""
    connection = await asyncpg.connect(url)
    table = "bench_vouchers" if voucher_shaped else "bench_codes"
    try:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        if voucher_shaped:
            await connection.execute(f"CREATE TABLE {table} (LIKE vouchers INCLUDING ALL)")
            now = datetime.now(UTC)
            expires = datetime(2099, 1, 2, tzinfo=UTC)
            arguments = (1, None, None, expires, "bat_bench", "{}", now)
            # The batch's own encoder: the floor for writing these rows at all.
            data = memoryview(binary_copy_rows(codes, arguments))
            columns = VOUCHER_COLUMNS.split(", ")
        else:
            await connection.execute(f"CREATE TABLE {table} (code varchar(64) PRIMARY KEY)")
        started = time.perf_counter()
        async with connection.transaction():
            if voucher_shaped:
                await connection.copy_to_table(table, source=data, columns=columns, format="binary")
            else:
                await connection.copy_records_to_table(
                    table, records=[(code,) for code in codes], columns=["code"]
                )
        return time.perf_counter() - started
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.close()


async def raw_copy_out(url: str, batch_id: str) -> tuple[int, float]:
    """Seconds for COPY (SELECT the export's columns of the batch) TO STDOUT via asyncpg."""
    connection = await asyncpg.connect(url)
    size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    try:
        started = time.perf_counter()
        await connection.copy_from_query(
            "SELECT code, max_redemptions, redeemed, max_redemptions - redeemed, expires_at"
            " FROM vouchers WHERE batch_id = $1 ORDER BY id",
            batch_id,
            output=sink,
            format="csv",
        )
        return size, time.perf_counter() - started
    finally:
        await connection.close()


def bench_postgres(admin_url: str) -> dict[str, Any]:
    """The PostgreSQL figures: batches alternate with raw COPYs, best of BATCH_RUNS each."""
    os.environ[POSTGRES_ENV] = admin_url
    url = create_postgres_database()
    batch_times: list[float] = []
    raw_times: list[float] = []
    shaped_times: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(url, Path(tmp) / "data").start(timeout=60)
            try:
                for _ in range(BATCH_RUNS):
                    # Each run against the same database: a new batch through the API,
                    # then the same number of new random codes by raw COPY.
                    batch_id, seconds = run_batch(server.url)
                    batch_times.append(seconds)
                    codes = CodeGenerator(CodeSpec()).draw_unique(COUNT)
                    raw_times.append(asyncio.run(raw_copy_in(url, codes, voucher_shaped=False)))
                    shaped = asyncio.run(raw_copy_in(url, codes, voucher_shaped=True))
                    shaped_times.append(shaped)
                # Exports alternate with the raw COPY TO, best of EXPORT_RUNS each,
                # so neither gets the colder cache or a noisier moment.
                export_times: list[float] = []
                raw_out_times: list[float] = []
                for _ in range(EXPORT_RUNS):
                    rows, size, seconds = run_export(server.url, batch_id)
                    export_times.append(seconds)
                    raw_out_bytes, seconds = asyncio.run(raw_copy_out(url, batch_id))
                    raw_out_times.append(seconds)
            finally:
                server.stop()
        export_seconds, raw_out_seconds = min(export_times), min(raw_out_times)
        batch_seconds, raw_seconds = min(batch_times), min(raw_times)
        shaped_seconds = min(shaped_times)
    finally:
        drop_postgres_database(url)
    return {
        "batch_seconds": round(batch_seconds, 2),
        "raw_copy_seconds": round(raw_seconds, 2),
        "raw_copy_voucher_shaped_seconds": round(shaped_seconds, 2),
        "batch_vs_raw_copy": round(batch_seconds / raw_seconds, 2),
        "batch_vs_voucher_shaped_copy": round(batch_seconds / shaped_seconds, 2),
        "export_rows": rows,
        "export_bytes": size,
        "export_seconds": round(export_seconds, 2),
        "raw_copy_to_seconds": round(raw_out_seconds, 2),
        "raw_copy_to_bytes": raw_out_bytes,
        "export_vs_raw_copy_to": round(export_seconds / raw_out_seconds, 2),
        "export_runs_seconds": [round(t, 2) for t in export_times],
        "raw_copy_to_runs_seconds": [round(t, 2) for t in raw_out_times],
        "batch_runs_seconds": [round(t, 2) for t in batch_times],
        "raw_copy_runs_seconds": [round(t, 2) for t in raw_times],
    }


def bench_sqlite() -> dict[str, Any]:
    """The SQLite figures (no raw COPY baseline exists there)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        server = Server(url, Path(tmp) / "data").start(timeout=60)
        try:
            batch_id, batch_seconds = run_batch(server.url)
            rows, size, export_seconds = run_export(server.url, batch_id)
        finally:
            server.stop()
    return {
        "batch_seconds": round(batch_seconds, 2),
        "export_rows": rows,
        "export_bytes": size,
        "export_seconds": round(export_seconds, 2),
    }


def main() -> dict[str, Any]:
    """Run the bulk benchmark on PostgreSQL and SQLite; return the figures."""
    admin_url = (
        os.environ.get("VOUCHERS_BENCH_POSTGRES_URL")
        or os.environ.get(POSTGRES_ENV)
        or DEFAULT_POSTGRES
    )
    return {
        "benchmark": "bulk",
        "count": COUNT,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        },
        "postgres": bench_postgres(admin_url),
        "sqlite": bench_sqlite(),
        "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
