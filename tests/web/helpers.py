"""Helpers of the web suites: a signed-in HTTP session, and Chromium for the browser suites."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from tests.support import ADMIN_KEY

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FUTURE_DAY = "2099-12-31"

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
FORM_ID = re.compile(r'name="form_id" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token in a page (form field or meta tag)."""
    found = CSRF_INPUT.search(html) or CSRF_META.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def form_id_from(html: str) -> str:
    """The one-time form id in a page."""
    found = FORM_ID.search(html)
    assert found, "no form id in the page"
    return found.group(1)


class Console:
    """A browser-like HTTP client signed in to the console (cookies kept, no redirects)."""

    def __init__(self, base_url: str, key: str = ADMIN_KEY) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        page = self.get("/admin/sign-in")
        response = self.post(
            "/admin/sign-in", {"admin_key": key, "csrf_token": csrf_from(page.text)}
        )
        assert response.status_code == 303, response.text
        self.csrf = csrf_from(self.get("/admin/new-voucher").text)

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET without following redirects."""
        return self.http.get(self.base_url + path, allow_redirects=False, timeout=30, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, form: dict[str, str], **kwargs: object) -> requests.Response:
        """POST a form without following redirects."""
        return self.http.post(
            self.base_url + path,
            data=form,
            allow_redirects=False,
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )
