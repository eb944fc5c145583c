"""The console and the public page in headless Chromium: what admins and customers do."""

from __future__ import annotations

import re
from typing import Any

from tests.support import ADMIN_KEY, Api, Server, unique_code
from tests.web.helpers import FUTURE_DAY


def sign_in(page: Any) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/admin")
    page.get_by_label("Admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()


def test_sign_in_create_find_redeem_reverse(page: Any, browser: Any, server: Server) -> None:
    code = unique_code("WEB")
    sign_in(page)
    assert page.url.endswith("/admin")

    page.get_by_role("link", name="New voucher").first.click()
    page.get_by_label("Code").fill(code)
    page.get_by_label("Max redemptions").fill("3")
    page.get_by_label("Expires").fill(FUTURE_DAY)
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name=re.compile(f"Voucher {code}")).wait_for()
    assert page.get_by_role("status").inner_text() == "Voucher created."

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Vouchers").click()
    page.get_by_label("Code starts with").fill(code[:8].lower())
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=code).click()
    page.get_by_role("heading", name=re.compile(f"Voucher {code}")).wait_for()

    # A customer, with no console cookie, on the public page.
    customer = browser.new_context(base_url=server.url)
    try:
        public = customer.new_page()
        public.goto("/")
        public.get_by_label("Voucher code").fill(code.lower())
        public.get_by_label("Quantity").fill("2")
        public.get_by_role("button", name="Redeem").click()
        result = public.locator("#result")
        assert f"Redeemed 2 times on voucher {code}." in result.inner_text()
        assert "1 redemption remains." in result.inner_text()
        assert public.evaluate("document.activeElement.id") == "result-message"

        public.get_by_label("Quantity").fill("2")
        public.get_by_role("button", name="Redeem").click()
        text = public.locator("#result").inner_text()
        assert "Only 1 redemption remains on this voucher" in text
        assert "Lower the quantity to 1 or less" in text
    finally:
        customer.close()

    page.reload()
    assert page.locator("#remaining").inner_text() == "1"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("^Reverse redemption")).click()
    page.get_by_role("status").filter(has_text="Redemption reversed").wait_for()
    assert page.locator("#remaining").inner_text() == "3"
    assert page.get_by_role("button", name=re.compile("^Reverse redemption")).count() == 0

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for()
    page.goto("/admin/vouchers")
    assert "/admin/sign-in" in page.url


def test_new_voucher_shows_errors_beside_fields(page: Any) -> None:
    sign_in(page)
    page.goto("/admin/new-voucher")
    page.get_by_label("Code").fill("no spaces allowed")
    page.get_by_label("Max redemptions").fill("0")
    page.get_by_label("Expires").fill("2001-01-01")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("alert").wait_for()
    code_input = page.get_by_label("Code")
    assert code_input.get_attribute("aria-invalid") == "true"
    assert "code-error" in (code_input.get_attribute("aria-describedby") or "")
    assert "letters, digits" in page.locator("#code-error").inner_text()
    assert page.get_by_label("Max redemptions").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "code"
    # Each field's label is exactly its name; "Optional." is part of its description.
    for name in ("Code", "Max redemptions", "Expires", "Starts", "Per-customer limit"):
        assert page.get_by_label(name, exact=True).count() == 1, name
    starts = page.get_by_label("Starts", exact=True)
    hint = page.locator("#" + (starts.get_attribute("aria-describedby") or "missing"))
    assert hint.inner_text().startswith("Optional. The first day it can be used")
    required = page.get_by_label("Expires", exact=True).get_attribute("aria-describedby") or ""
    assert "Optional" not in page.locator("#" + required.split()[0]).inner_text()


def test_console_fits_a_phone(browser: Any, server: Server, api: Api) -> None:
    # The longest code there can be (64 characters, no place to break it).
    code = api.create_voucher(code=unique_code("PHONE").ljust(64, "X"))["code"]
    api.redeem(code, quantity=1, customer_id="customer-with-a-long-identifier-0123456789")
    context = browser.new_context(
        base_url=server.url, viewport={"width": 375, "height": 740}, is_mobile=True
    )
    context.set_default_timeout(15_000)
    try:
        phone = context.new_page()
        sign_in(phone)
        for path in ("/admin", "/admin/vouchers", f"/admin/vouchers/{code}"):
            phone.goto(path)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} is {width}px wide on a 375px screen"
    finally:
        context.close()


def test_public_page_fits_a_phone(browser: Any, server: Server) -> None:
    context = browser.new_context(
        base_url=server.url, viewport={"width": 375, "height": 740}, is_mobile=True
    )
    try:
        phone = context.new_page()
        phone.goto("/")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        box = phone.get_by_role("button", name="Redeem").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        assert box["height"] >= 44  # a comfortable touch target
        phone.get_by_label("Voucher code").fill("NO-SUCH-CODE-123")
        phone.get_by_role("button", name="Redeem").click()
        assert "could not find a voucher" in phone.locator("#result").inner_text()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


def test_keyboard_order_on_the_public_page(browser: Any, server: Server) -> None:
    context = browser.new_context(base_url=server.url)
    try:
        public = context.new_page()
        public.goto("/")
        order = []
        for _ in range(5):
            public.keyboard.press("Tab")
            order.append(
                public.evaluate(
                    "document.activeElement.id || document.activeElement.textContent.trim()"
                )
            )
        assert order == ["Skip to content", "code", "quantity", "customer_id", "Redeem"]
    finally:
        context.close()
