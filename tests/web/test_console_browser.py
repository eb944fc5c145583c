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


# For every element with its own visible text: its colour against the first
# opaque background behind it, as WCAG 2 computes contrast. Large text (24px,
# or 18.66px bold) needs 3:1, the rest 4.5:1.
CONTRAST_SCRIPT = """() => {
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const parse = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const [r, g, b, a = 1] = parse(getComputedStyle(node).backgroundColor);
      if (a >= 0.99) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === "hidden" || el.getClientRects().length === 0) continue;
    const [fg_r, fg_g, fg_b] = parse(style.color);
    const a = luminance([fg_r, fg_g, fg_b]), b = luminance(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) {
      const text = el.textContent.trim().slice(0, 40);
      failures.push(`${el.tagName} "${text}" ${ratio.toFixed(2)} < ${needed}`);
    }
  }
  return failures;
}"""


def test_text_contrast_meets_wcag_aa(browser: Any, server: Server, api: Api) -> None:
    """Every page's text, including errors, badges and notices, meets WCAG AA contrast."""
    code = api.create_voucher(code=unique_code("CONTRAST"), max_redemptions=1)["code"]
    api.redeem(code)
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        checked: dict[str, list[str]] = {}
        page.goto("/")
        checked["public"] = page.evaluate(CONTRAST_SCRIPT)
        page.get_by_label("Voucher code").fill(code)
        page.get_by_role("button", name="Redeem").click()
        page.locator("#result").get_by_text("used up", exact=False).wait_for()
        checked["public, refused"] = page.evaluate(CONTRAST_SCRIPT)
        page.goto("/admin")
        checked["sign-in"] = page.evaluate(CONTRAST_SCRIPT)
        sign_in(page)
        checked["dashboard"] = page.evaluate(CONTRAST_SCRIPT)
        page.goto("/admin/vouchers")
        checked["vouchers"] = page.evaluate(CONTRAST_SCRIPT)
        page.goto(f"/admin/vouchers/{code}")
        checked["voucher"] = page.evaluate(CONTRAST_SCRIPT)
        page.goto("/admin/new-voucher")
        page.get_by_label("Max redemptions").fill("0")
        page.get_by_role("button", name="Create").click()
        page.get_by_text("fix the fields marked below").wait_for()
        checked["new voucher, errors"] = page.evaluate(CONTRAST_SCRIPT)
        page.goto("/admin/new-batch")
        checked["new batch"] = page.evaluate(CONTRAST_SCRIPT)
    finally:
        context.close()
    assert {name: found for name, found in checked.items() if found} == {}
    assert len(checked) == 8


def _tab_order(page: Any, presses: int) -> list[str]:
    """What Tab focuses, press by press: an element's id, else its text."""
    order = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        )
    return order


def test_keyboard_order_in_the_console(browser: Any, server: Server) -> None:
    """Sign-in and the new-voucher form are reached by Tab in reading order."""
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        page.goto("/admin/sign-in")
        assert page.evaluate("document.activeElement.id") == "admin_key"  # autofocus
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent.trim()") == "Sign in"
        sign_in(page)
        page.goto("/admin/new-voucher")
        # A date input takes one Tab per part (month, day, year): repeats are dropped.
        pressed = _tab_order(page, 24)
        order = [name for i, name in enumerate(pressed) if i == 0 or pressed[i - 1] != name]
    finally:
        context.close()
    expected = [
        "Dashboard",
        "Vouchers",
        "New voucher",
        "New batch",
        "Sign out",
        "code",
        "max_redemptions",
        "expires_at",
        "starts_at",
        "per_customer_limit",
        "Create",
    ]
    positions = [order.index(name) if name in order else -1 for name in expected]
    assert -1 not in positions and positions == sorted(positions), str(order)
