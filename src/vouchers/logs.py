"""Logging: plain text or JSON lines, each with the request id; never keys or full codes."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)

ACCESS_LOGGER = "vouchers.access"


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach ``request_id`` (or '-')."""
        record.request_id = current_request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging(log_format: str, level: str = "INFO") -> None:
    """Send the service's logs to stderr as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    logger = logging.getLogger("vouchers")
    logger.handlers = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def mask_code(code: str) -> str:
    """A voucher code shortened for logs, so logs never hold usable codes."""
    return code[:3] + "…" if len(code) > 3 else "…"
