"""Report pages in Debian's Chromium against the app served by uvicorn: charts
render, the explorer drills down, downloads work and the French switch applies.

The `page` fixture (tests/conftest.py) is logged in as the admin and fails a
test on any console error or failed request.
"""

from __future__ import annotations

from pathlib import Path

AS_OF = "as_of=2025-06-30"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _open(page, live_server, path: str) -> None:
    page.goto(f"{live_server.url}{path}")
    # Plotly draws its SVG once app.js has read the figure.
    page.wait_for_selector(".chart .main-svg")


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    data = target.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000, f"{name}.png is only {len(data)} bytes"
    return target


def test_overview_in_browser(page, live_server, tmp_path):
    _open(page, live_server, f"/overview?{AS_OF}")
    assert page.locator(".tile").first.inner_text().startswith("MRR")
    assert "$300.00" in page.locator("#tiles").inner_text()
    _screenshot(page, tmp_path, "overview")

    with page.expect_download() as download_info:
        page.click("[data-png-for=movements-chart]")
    png = Path(download_info.value.path()).read_bytes()
    assert png.startswith(PNG_MAGIC)

    with page.expect_download() as download_info:
        page.locator("a[href*='table=movements'][href*='format=csv']").click()
    download = download_info.value
    assert download.suggested_filename == "revaxis-movements-month.csv"
    csv = Path(download.path()).read_text()
    assert csv.splitlines()[0].startswith("period,mrr_start,new,")
    assert "2025-04,300.0,0.0,50.0,0.0,50.0" in csv


def test_segments_explorer_drill(page, live_server, tmp_path):
    _open(page, live_server, f"/segments?{AS_OF}")
    page.select_option("select[name=axis]", "plan")
    page.wait_for_selector("#segments-table th:text('Plan')")
    row = page.locator("#segments-table tbody tr", has_text="Pro")
    assert row.locator("td").first.inner_text() == "Pro"
    april = row.locator("a.drill[data-period='2025-04']")
    assert april.inner_text() == "$300.00"
    april.click()
    page.wait_for_selector("#drill-table")
    customers = page.locator("#drill-table td.customer").all_inner_texts()
    # MRR of plan Pro at the end of April: c1, c3 and c4.
    assert customers == ["c1", "c3", "c4"]
    assert "3 rows, total $300.00." in page.locator("#drill").inner_text()
    assert "axis=plan" in page.url
    _screenshot(page, tmp_path, "segments")

    with page.expect_download() as download_info:
        page.click("[data-png-for=segments-chart]")
    png = Path(download_info.value.path()).read_bytes()
    assert png.startswith(PNG_MAGIC)


def test_segments_bad_filter_in_browser(page, live_server):
    _open(page, live_server, f"/segments?{AS_OF}&axis=plan")
    page.fill("input[name=filter]", "country in (")
    page.click("#explorer-form button[type=submit]")
    alert = page.wait_for_selector("#results [role=alert]")
    assert "Invalid filter" in alert.inner_text()


def test_cohorts_in_browser(page, live_server, tmp_path):
    _open(page, live_server, f"/cohorts?{AS_OF}&metric=net_mrr_retention")
    assert page.locator("#cohort-table tbody tr").count() == 3
    _screenshot(page, tmp_path, "cohorts")


def test_french_switch(page, live_server):
    _open(page, live_server, f"/overview?{AS_OF}")
    page.click("a[hreflang=fr]")
    page.wait_for_selector(".chart .main-svg")
    assert page.locator("h1").inner_text() == "Vue d'ensemble"
    tiles = page.locator("#tiles").inner_text()
    assert "Clients" in tiles
    assert "300,00\xa0$US" in tiles
    page.click("nav a[href='/segments']")
    page.wait_for_selector("#explorer-form")
    assert page.locator("h1").inner_text() == "Explorateur de segments"


def test_segments_png_has_title(page, live_server, tmp_path):
    _open(page, live_server, f"/segments?{AS_OF}&axis=plan&kpi=customers")
    figure = page.evaluate(
        "window.revaxis.exportFigure(document.getElementById('segments-chart'))"
    )
    layout = figure["layout"]
    assert layout["title"]["text"] == (
        "Customers by Plan · USD · report day Jun 30, 2025"
    )
    # Counts start at zero, in the image as on the page.
    assert layout["yaxis"]["rangemode"] == "tozero"
    assert layout["yaxis"]["range"][0] == 0
    with page.expect_download() as download_info:
        page.click("[data-png-for=segments-chart]")
    download = download_info.value
    assert download.suggested_filename == "revaxis-customers-segments.png"
    target = tmp_path / "segments-export.png"
    download.save_as(target)
    assert target.read_bytes().startswith(PNG_MAGIC)


def test_wide_table_scrolls_in_its_card(page, live_server):
    page.set_viewport_size({"width": 900, "height": 800})
    _open(page, live_server, f"/overview?{AS_OF}")
    sizes = page.evaluate(
        """() => {
          const wrap = document.querySelector('#kpi-table').closest('.table-wrap');
          return {
            client: wrap.clientWidth,
            scroll: wrap.scrollWidth,
            card: wrap.closest('section').getBoundingClientRect().right,
            page: document.documentElement.scrollWidth,
          };
        }"""
    )
    # The table is wider than its card and scrolls inside it, while the page
    # itself stays as wide as the window.
    assert sizes["scroll"] > sizes["client"]
    assert sizes["page"] <= 900
    assert sizes["card"] <= 900
    last = page.locator("#kpi-table thead th").last
    last.scroll_into_view_if_needed()
    assert last.is_visible()
    assert last.bounding_box()["x"] + last.bounding_box()["width"] <= 900


def test_segments_interval_change_updates_range(page, live_server):
    _open(page, live_server, "/segments?as_of=2025-06-15&axis=plan")
    assert page.input_value("input[name=from]") == "2025-01"
    assert page.input_value("input[name=to]") == "2025-05"
    page.select_option("select[name=interval]", "quarter")
    page.wait_for_selector("#segments-table th:text('2025-Q1')")
    # The range typed in months reads as quarters; Q2 is in progress.
    assert page.input_value("input[name=from]") == "2025-Q1"
    assert page.input_value("input[name=to]") == "2025-Q2"
