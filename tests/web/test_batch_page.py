"""The "New batch" page in Chromium: live progress, then the CSV download."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tests.web.helpers import FUTURE_DAY
from tests.web.test_console_browser import sign_in


def test_run_a_small_batch_and_download_its_codes(page: Any, tmp_path: Path) -> None:
    sign_in(page)
    page.get_by_role("link", name="New batch").click()
    page.get_by_label("Number of codes").fill("0")
    page.get_by_label("Expires").fill(FUTURE_DAY)
    page.get_by_role("button", name="Generate").click()
    page.locator("#count-error").wait_for()
    assert page.get_by_label("Number of codes").get_attribute("aria-invalid") == "true"
    page.get_by_label("Number of codes").fill("5")
    page.get_by_label("Max redemptions").fill("2")
    page.get_by_label("Expires").fill(FUTURE_DAY)
    page.get_by_label("Code prefix").fill("WB-")
    page.get_by_role("button", name="Generate").click()
    # Done, or an error: whichever comes first (the page's CSP forbids eval-based waits).
    page.locator("#batch-status:has-text('Done'), #batch-error:not([hidden])").first.wait_for(
        timeout=30_000
    )
    assert page.locator("#batch-error").inner_text() == ""
    assert page.locator("#batch-status").inner_text() == "Done: 5 codes created."
    assert page.locator("#batch-bar").evaluate("bar => [bar.value, bar.max]") == [5, 5]
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    target = tmp_path / "codes.csv"
    info.value.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0] == ["code", "max_redemptions", "redeemed", "remaining", "expires_at", "status"]
    assert len(rows) == 6
    assert all(row[0].startswith("WB-") and row[1] == "2" for row in rows[1:])
    assert len({row[0] for row in rows[1:]}) == 5
