"""Time the web console's read queries on a million vouchers (SQLite and PostgreSQL).

Usage: ``.venv/bin/python benchmarks/console_queries.py [sqlite|postgres] [vouchers]``
(PostgreSQL at VOUCHERS_TEST_POSTGRES_URL). Fills a fresh database with
synthetic vouchers of every status and a ledger, then times each query the
dashboard and the voucher list run, a few times, and prints the median.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from tests.support import fresh_database

from vouchers import migrate
from vouchers.db import Database, create_engine
from vouchers.redemptions import service as redemption_service
from vouchers.vouchers import service as voucher_service
from vouchers.vouchers.schemas import VoucherStatus

FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO vouchers (code, code_key, max_redemptions, redeemed, per_customer_limit,
    starts_at, expires_at, disabled, batch_id, metadata, created_at, updated_at)
SELECT printf('V%09d', i), printf('V%09d', i), 100, i % 101, NULL,
    CASE WHEN i % 50 = 0 THEN '2099-01-01 00:00:00.000000' END,
    CASE WHEN i % 40 = 0 THEN '2001-01-01 00:00:00.000000'
         ELSE '2098-01-01 00:00:00.000000' END,
    i % 97 = 0, NULL, '{}', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000'
FROM n
"""
FILL_POSTGRES = """
INSERT INTO vouchers (code, code_key, max_redemptions, redeemed, per_customer_limit,
    starts_at, expires_at, disabled, batch_id, metadata, created_at, updated_at)
SELECT 'V' || lpad(i::text, 9, '0'), 'V' || lpad(i::text, 9, '0'), 100, i % 101, NULL,
    CASE WHEN i % 50 = 0 THEN timestamptz '2099-01-01Z' END,
    CASE WHEN i % 40 = 0 THEN timestamptz '2001-01-01Z' ELSE timestamptz '2098-01-01Z' END,
    i % 97 = 0, NULL, '{}', now(), now()
FROM generate_series(1, :count) AS i
"""
FILL_LEDGER = """
INSERT INTO redemptions (id, voucher_id, quantity, customer_id, remaining, metadata,
    created_at, reversed_at)
SELECT 'rdm_' || id, id, 1, NULL, 0, '{}', {now}, NULL FROM vouchers WHERE id <= :count
"""


async def timed(label: str, call: Callable[[], Awaitable[Any]], runs: int = 5) -> None:
    """Print the median time of a call."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    print(f"  {label:<46} {statistics.median(times) * 1000:8.1f} ms")


async def run(url: str, count: int) -> None:
    """Fill the database and time every console query."""
    database = Database(create_engine(url))
    sqlite = database.is_sqlite
    async with database.transaction() as connection:
        await connection.execute(text(FILL_SQLITE if sqlite else FILL_POSTGRES), {"count": count})
        now_sql = "strftime('%Y-%m-%d %H:%M:%f000', 'now')" if sqlite else "now()"
        await connection.execute(
            text(FILL_LEDGER.replace("{now}", now_sql)), {"count": min(count, 300_000)}
        )
        if not sqlite:
            await connection.execute(text("ANALYZE"))
    print(f"{'SQLite' if sqlite else 'PostgreSQL'}: {count:,} vouchers, ledger 300,000 rows")

    async def read(call: Callable[[Any], Awaitable[Any]]) -> Any:
        async with database.read() as connection:
            return await call(connection)

    await timed(
        "dashboard: counts by status (one scan)", lambda: read(voucher_service.status_counts)
    )
    await timed(
        "dashboard: redemptions per day (newest 100k rows)",
        lambda: read(lambda c: redemption_service.daily_redemptions(c)),
    )
    await timed("dashboard: running low (LIMIT 8)", lambda: read(voucher_service.running_low))
    await timed(
        "dashboard: expiring within 7 days (LIMIT 8)",
        lambda: read(lambda c: voucher_service.expiring_soon(c, within=timedelta(days=7))),
    )
    for label, status, prefix in [
        ("list: newest 50", None, None),
        ("list: status=active", VoucherStatus.active, None),
        ("list: status=scheduled", VoucherStatus.scheduled, None),
        ("list: prefix V0000123", None, "V0000123"),
        ("list: prefix that matches nothing", None, "ZZZ"),
    ]:
        await timed(
            label,
            lambda s=status, p=prefix: read(  # type: ignore[misc]
                lambda c: voucher_service.list_vouchers(
                    c, status=s, batch_id=None, prefix=p, limit=50, cursor=None
                )
            ),
        )
    await database.dispose()


def main() -> None:
    """Run on the backend named on the command line."""
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with tempfile.TemporaryDirectory() as folder, fresh_database(backend, Path(folder)) as url:
        migrate.upgrade(url)
        asyncio.run(run(url, count))


if __name__ == "__main__":
    main()
