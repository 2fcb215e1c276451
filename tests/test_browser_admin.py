"""The admin pages in Debian's Chromium against a live server on the workspace
of tests/webapp.py, logged in as admin. The `page` fixture fails a test on any
console error or failed request, which covers the Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.webapp import AS_OF

DAY = AS_OF.isoformat()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A screenshot of a rendered page is tens of kilobytes; a blank one is smaller.
MIN_SCREENSHOT_BYTES = 10_000
# The axes page computes coverage with one report per axis after it shows.
COVERAGE_TIMEOUT_MS = 60_000

CUSTOMERS_CSV = "customer_id,name,country\nc5,Echo Ltd,GB\n"
LINES_CSV = (
    "invoice_id,line_id,customer_id,currency,amount,"
    "service_period_start,service_period_end\n"
    "c5-1,1,c5,USD,120,2025-05-01,2025-06-01\n"
)


def _screenshot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > MIN_SCREENSHOT_BYTES


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        (f"/customers?as_of={DAY}", "#customers-table"),
        (f"/customers/c3?as_of={DAY}", "#customer-mrr-chart .main-svg"),
        ("/axes", "#axes-rows:not([hx-get])"),
        ("/axes/channel", "#preview-table"),
        ("/data", "#log-table"),
        ("/settings", "#users-table"),
    ],
    ids=["customers", "customer", "axes", "axis", "data", "settings"],
)
def test_page_screenshot(page, live_server, tmp_path, path, ready):
    page.goto(live_server.url + path)
    page.wait_for_selector(ready, timeout=COVERAGE_TIMEOUT_MS)
    _screenshot(page, tmp_path, path.strip("/").split("?")[0].replace("/", "-"))


def test_axes_coverage_loads(page, live_server):
    page.goto(live_server.url + "/axes")
    page.wait_for_selector("#axes-rows:not([hx-get])", timeout=COVERAGE_TIMEOUT_MS)
    cells = page.locator('tr[data-axis="channel"] td.num').all_inner_texts()
    assert cells == ["0", "3", "100.0%", "100.0%"]


def test_rule_live_preview(page, live_server):
    page.goto(live_server.url + "/axes/channel")
    seo = page.locator('#preview-table tr[data-raw="seo"]')
    assert seo.locator("strong").inner_text() == "seo"
    assert seo.get_attribute("class") is None

    page.fill("#rule-form input[name=pattern]", "seo")
    page.fill("#rule-form input[name=label]", "SEO")
    page.wait_for_selector('#preview-table tr.moved[data-raw="seo"]')
    assert seo.locator("strong").inner_text() == "SEO"
    assert "1 raw label(s) move" in page.inner_text("#rule-preview .summary")
    # Typed, not saved yet.
    assert page.locator("#rules-table").count() == 0

    with page.expect_navigation():
        page.click("#rule-form button[type=submit]")
    assert page.inner_text("#rules-table tbody").split() == [
        "1",
        "map",
        "seo",
        "SEO",
        "Remove",
    ]
    assert seo.locator("strong").inner_text() == "SEO"
    assert seo.get_attribute("class") is None
    assert "Rule added: seo → SEO." in page.inner_text("main")


def test_customer_live_search(page, live_server):
    page.goto(f"{live_server.url}/customers?as_of={DAY}")
    rows = page.locator("#customers-table tbody tr")
    assert rows.count() == 4
    page.fill("input[name=q]", "cob")
    # The results are replaced after a short delay, without a page load.
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-customer") == "c3"
    assert "q=cob" in page.url
    assert "$100" in rows.first.inner_text()


def test_customer_chart_png(page, live_server):
    page.goto(f"{live_server.url}/customers/c3?as_of={DAY}")
    page.wait_for_selector("#customer-mrr-chart .main-svg")
    with page.expect_download() as download:
        page.click('[data-png-for="customer-mrr-chart"]')
    path = download.value.path()
    assert Path(path).read_bytes().startswith(PNG_SIGNATURE)
    assert download.value.suggested_filename == "mrr-c3.png"


def test_edit_attribute_in_place(page, live_server):
    page.goto(f"{live_server.url}/customers/c3?as_of={DAY}")
    row = page.locator("#attribute-channel")
    row.locator("input[name=value]").fill("Partner")
    row.locator("button[type=submit]", has_text="Save").click()
    page.wait_for_selector("#attribute-channel .flash-inline")
    assert (
        page.locator("#attribute-channel td.value").inner_text().startswith("Partner")
    )
    # The change is stored: a reload shows it.
    page.reload()
    assert page.locator("#attribute-channel td.value").inner_text().strip() == (
        "Partner"
    )


def test_upload_import(page, live_server, tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS_CSV)
    lines = tmp_path / "invoice_lines.csv"
    lines.write_text(LINES_CSV)
    page.goto(live_server.url + "/data")
    page.set_input_files("#import-form input[name=files]", [customers, lines])
    with page.expect_navigation():
        page.click("#import-form button[type=submit]")
    assert "Import done" in page.inner_text("#report")
    report = page.inner_text("#report-table tbody")
    assert "customers\t1" in report
    assert "invoice_lines\t1" in report
    counts = page.inner_text("#counts-table tbody")
    assert "customers\t5" in counts
