"""Take the README's screenshots of the console and the public page in headless Chromium.

Run from the repository root: ``.venv/bin/python docs/screenshots/take.py``.
It starts a throwaway server on a temporary SQLite file, fills it with demo
vouchers and redemptions (the ledger's timestamps are then spread over the
last 30 days so the chart has something to show), and writes PNGs here.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from tests.support import ADMIN_KEY, Api, Server  # noqa: E402
from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def seed(api: Api, database: Path) -> None:
    """Demo vouchers of every status, and a month of redemptions."""
    rng = random.Random(7)
    soon = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    api.create_voucher(code="SUMMER-2027", max_redemptions=500, expires_at="2027-09-01")
    api.create_voucher(
        code="WELCOME10", max_redemptions=1000, expires_at="2027-12-31", per_customer_limit=1
    )
    api.create_voucher(code="FLASH-SALE", max_redemptions=50, expires_at=soon)
    api.create_voucher(code="VIP-GOLD", max_redemptions=20, expires_at="2027-06-30")
    api.create_voucher(
        code="SPRING-2027", max_redemptions=300, expires_at="2027-05-31", starts_at="2027-03-01"
    )
    api.create_voucher(code="STAFF-ONLY", max_redemptions=10, expires_at="2027-01-31")
    api.create_voucher(code="LAUNCH-DAY", max_redemptions=5, expires_at="2027-01-31")
    api.patch("/v1/vouchers/STAFF-ONLY", {"disabled": True})
    for n in range(6):
        api.create_voucher(code=f"PARTNER-{n + 1:03d}", max_redemptions=25, expires_at="2027-10-31")
    for _ in range(90):
        code = rng.choice(["SUMMER-2027", "SUMMER-2027", "FLASH-SALE", "PARTNER-001"])
        api.redeem(code, quantity=rng.randint(1, 3))
    for n in range(40):
        api.redeem("WELCOME10", customer_id=f"customer-{n}")
    api.redeem("VIP-GOLD", quantity=17)
    api.redeem("LAUNCH-DAY", quantity=5)
    # Spread the ledger over the last 30 days (timestamps only; counts stay as they are).
    now = datetime.now(UTC).replace(tzinfo=None)
    with sqlite3.connect(database) as connection:
        seqs = [row[0] for row in connection.execute("SELECT seq FROM redemptions ORDER BY seq")]
        moments = sorted(
            now - timedelta(days=int(29 * rng.random() ** 1.6), minutes=rng.randint(0, 600))
            for _ in seqs
        )
        for seq, moment in zip(seqs, moments, strict=True):
            connection.execute(
                "UPDATE redemptions SET created_at = ? WHERE seq = ?",
                (moment.strftime("%Y-%m-%d %H:%M:%S.%f"), seq),
            )


def shoot(page: Page, name: str) -> None:
    """Save a full-page screenshot."""
    page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
    print("wrote", HERE / f"{name}.png")


def main() -> None:
    """Start a server, seed it, and photograph every page."""
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "demo.db"
        server = Server(f"sqlite:///{database}", Path(folder) / "data").start()
        try:
            seed(Api(server.url), database)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                desktop = browser.new_context(
                    base_url=server.url, viewport={"width": 1280, "height": 800}
                )
                page = desktop.new_page()
                page.goto("/admin/sign-in")
                shoot(page, "sign-in")
                page.get_by_label("Admin key").fill(ADMIN_KEY)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("heading", name="Dashboard").wait_for()
                shoot(page, "dashboard")
                page.goto("/admin/vouchers")
                shoot(page, "vouchers")
                page.goto("/admin/new-voucher")
                page.get_by_label("Code").fill("SUMMER-2027")
                page.get_by_label("Max redemptions").fill("0")
                page.get_by_label("Expires").fill("2027-09-01")
                page.get_by_role("button", name="Create").click()
                page.get_by_role("alert").wait_for()
                shoot(page, "new-voucher-errors")
                page.goto("/admin/vouchers/FLASH-SALE")
                shoot(page, "voucher")
                page.goto("/admin/new-batch")
                page.get_by_label("Number of codes").fill("2500")
                page.get_by_label("Expires").fill("2027-12-31")
                page.get_by_label("Code prefix").fill("XMAS-")
                page.get_by_role("button", name="Generate").click()
                page.locator(
                    "#batch-status:has-text('Done'), #batch-error:not([hidden])"
                ).first.wait_for()
                shoot(page, "new-batch")  # shows the "not available" error before batches merge

                public = browser.new_context(
                    base_url=server.url, viewport={"width": 1280, "height": 800}
                ).new_page()
                public.goto("/")
                public.get_by_label("Voucher code").fill("summer-2027")
                public.get_by_label("Quantity").fill("2")
                public.get_by_role("button", name="Redeem").click()
                shoot(public, "public-desktop")

                phone = browser.new_context(
                    base_url=server.url, viewport={"width": 375, "height": 740}, is_mobile=True
                ).new_page()
                phone.goto("/")
                phone.get_by_label("Voucher code").fill("LAUNCH-DAY")
                phone.get_by_role("button", name="Redeem").click()
                shoot(phone, "public-phone")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
