"""The server-side commands, `vouchers serve` and `vouchers migrate` (imported only when used)."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import uvicorn

from vouchers import migrate
from vouchers.auth import load_keys
from vouchers.config import Settings


def prepare_multiprocess_metrics(data_dir: Path) -> None:
    """Point every worker at one fresh Prometheus directory, before any worker starts.

    prometheus-client reads the variable when the metrics module is first
    imported, so this module must not import vouchers.metrics itself.
    """
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or data_dir / "metrics")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())


def serve(args: argparse.Namespace) -> int:
    """Migrate, make sure an admin key exists, then serve with uvicorn."""
    settings = Settings()
    if settings.auto_migrate:
        migrate.upgrade(settings.resolved_database_url)
    load_keys(settings)
    if not args.reload:
        prepare_multiprocess_metrics(settings.data_dir)
    uvicorn.run(
        "vouchers.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        log_level=args.log_level,
        # The service reads X-Forwarded-For itself, only from VOUCHERS_TRUSTED_PROXIES.
        proxy_headers=False,
        # Access lines come from the service itself, with routes instead of raw
        # paths, so logs never hold voucher codes.
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0


def migrate_database(_args: argparse.Namespace) -> int:
    """Bring the database schema up to date."""
    settings = Settings()
    migrate.upgrade(settings.resolved_database_url)
    print("database is up to date")
    return 0
