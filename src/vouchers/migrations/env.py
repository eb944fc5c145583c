"""Alembic environment: runs migrations through the service's own engine factory."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from vouchers.db import create_engine, metadata
from vouchers.redemptions import tables as _redemption_tables  # noqa: F401  (registers tables)
from vouchers.vouchers import tables as _voucher_tables  # noqa: F401

# Any fixed number: concurrent starters (several workers, several servers)
# take turns on PostgreSQL; on SQLite, BEGIN IMMEDIATE makes them take turns.
MIGRATION_LOCK_ID = 7_301_990_412


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


async def _run_online() -> None:
    url = context.config.attributes.get("database_url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    engine = create_engine(url, pool_size=1, timeout=60)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


asyncio.run(_run_online())
