"""Fixtures of the web suites: headless Chromium (Debian's, never downloaded).

The browser is module-scoped on purpose: Playwright's sync API keeps an event
loop running in the main thread while a browser is open, and other suites call
``asyncio.run`` in that thread. A module-scoped browser is closed as soon as
pytest leaves the module, so it is never open while other suites run (and two
browsers are never open at once).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Server
from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, Console


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless /usr/bin/chromium driven by Playwright; skips with a reason when missing."""
    if not CHROMIUM.exists():
        pytest.skip(
            "browser suites need Debian's Chromium at /usr/bin/chromium "
            "(apt-get install -y chromium); no browser is ever downloaded"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser suites need playwright: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh desktop-sized page (its own cookies) on the shared server."""
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def console(server: Server) -> Console:
    """An HTTP client signed in to the console of the shared server."""
    return Console(server.url)
