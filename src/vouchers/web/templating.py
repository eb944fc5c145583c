"""Jinja2 templates of the console and the public page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from vouchers.config import Settings

environment = Environment(
    loader=PackageLoader("vouchers.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def format_number(value: int) -> str:
    """An integer with thousands separators."""
    return f"{value:,}"


environment.filters["number"] = format_number


def format_when(value: datetime | None, zone: ZoneInfo) -> str:
    """A timestamp in the server's time zone, to the minute."""
    if value is None:
        return "—"
    local = value.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or zone.key)


def format_until(value: datetime, zone: ZoneInfo) -> str:
    """An (exclusive) expiry: "end of <day>" when it falls at midnight, else the timestamp."""
    local = value.astimezone(zone)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        last = (local - timedelta(days=1)).date()
        return f"end of {last.isoformat()} ({local.tzname() or zone.key})"
    return format_when(value, zone)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render a template into an HTML response."""
    settings: Settings = request.app.state.settings
    zone = settings.zone

    def when(value: datetime | None) -> str:
        return format_when(value, zone)

    def until(value: datetime) -> str:
        return format_until(value, zone)

    html = environment.get_template(template).render(
        {
            "request_path": request.url.path,
            "zone_name": zone.key,
            "when": when,
            "until": until,
            **context,
        }
    )
    return HTMLResponse(html, status_code=status_code)
