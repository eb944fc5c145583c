"""Prometheus metrics: requests, latency, redemptions, rejections, group sizes, pool use.

With several worker processes (``vouchers serve --workers N``) every worker
writes to files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up,
so one scrape reports the whole server.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "vouchers_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "vouchers_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REDEMPTIONS = Counter("vouchers_redemptions_total", "Successful redemptions")
REDEEMED_QUANTITY = Counter("vouchers_redeemed_quantity_total", "Quantity redeemed")
REJECTIONS = Counter("vouchers_rejections_total", "Refused redemptions by error code", ["code"])
GROUP_SIZE = Histogram(
    "vouchers_group_commit_size",
    "Redemptions committed together in one transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
POOL_IN_USE = Gauge(
    "vouchers_db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)


def render() -> tuple[bytes, str]:
    """The metrics of this server (all workers together in multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges."""
    if os.environ.get(MULTIPROC_ENV):
        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
