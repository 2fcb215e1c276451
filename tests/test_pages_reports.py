"""Report pages through the TestClient: overview, segments explorer, drill-down
and cohorts, with numbers computed by hand from tests/webapp.py.

Month by month the workspace's MRR is January 150 (c1 Pro 100 + c2 Basic 50),
February 200 (+ c3 Basic 50) and March 300 (+ c4 Pro 100). It stays 300 in
April, May and June, because on 1 April c2 churns (-50) while c3 moves from
Basic 50 to Pro 100 (+50 expansion).
"""

from __future__ import annotations

import html
import io
import json
import re

import openpyxl
import pandas as pd
import pytest
from tests.webapp import login

AS_OF = "as_of=2025-06-30"
NNBSP = "\u202f"  # the French thousands separator
NBSP = "\xa0"


@pytest.fixture
def viewer(web_client):
    login(web_client, "viewer@example.com")
    return web_client


def _text(fragment: str) -> str:
    """Return the visible text of an HTML fragment, spaces collapsed."""
    without_scripts = re.sub(r"<script.*?</script>", " ", fragment, flags=re.S)
    plain = html.unescape(re.sub(r"<[^>]+>", " ", without_scripts))
    return re.sub(r"[ \t\n]+", " ", plain).strip()


def _tiles(page: str) -> dict[str, tuple[str, str]]:
    """Return label -> (value, change) of the overview's KPI tiles."""
    tiles = {}
    for block in re.findall(r'<div class="tile">(.*?)</div>\s*</div>', page, re.S):
        label = _text(re.search(r'class="label">(.*?)</div>', block, re.S)[1])
        value = _text(re.search(r'class="value">(.*?)</div>', block, re.S)[1])
        change = re.search(r'class="change[^"]*"[^>]*>(.*)', block, re.S)
        tiles[label] = (value, _text(change[1]) if change else "")
    return tiles


def _table(page: str, table_id: str) -> list[list[str]]:
    """Return the rows (header first) of a table as lists of cell texts."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert body, f"no table {table_id}"
    rows = re.findall(r"<tr>(.*?)</tr>", body[0], re.S)
    return [
        [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in rows
    ]


def test_pages_redirect_to_login(web_client):
    for path in ("/overview", "/segments", "/cohorts"):
        response = web_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


# Overview -------------------------------------------------------------------


def test_overview_tiles_month(viewer):
    response = viewer.get(f"/overview?{AS_OF}")
    assert response.status_code == 200
    page = response.text
    # June 2025 is the latest complete month on 30 June, compared with May.
    assert "Period 2025-06 compared with 2025-05." in _text(page)
    tiles = _tiles(page)
    # MRR: c1 100 + c3 100 + c4 100 = 300, the same as in May.
    assert tiles["MRR"] == ("$300.00", "■ $0.00 (0.0%)")
    assert tiles["ARR"][0] == "$3,600.00"
    assert tiles["Customers"][0] == "3"
    # ARPA = 300 / 3.
    assert tiles["ARPA"][0] == "$100.00"
    assert tiles["Net new MRR"][0] == "$0.00"
    # LTV = ARPA 100 / mean monthly churn of January-June. The rates of
    # February-June are 0, 0, 1/4, 0, 0 (January has no customer at its
    # start): 0.25 / 5 = 0.05, so LTV = 2,000; in May the window ends in May,
    # 0.25 / 4, LTV = 1,600: +400, +25 %.
    assert tiles["LTV"] == ("$2,000.00", "▲ +$400.00 (+25.0%)")
    assert tiles["Net revenue retention (12 months)"][0] == "–"


def test_overview_tiles_quarter(viewer):
    page = viewer.get(f"/overview?{AS_OF}&interval=quarter").text
    assert "Period 2025-Q2 compared with 2025-Q1." in _text(page)
    tiles = _tiles(page)
    # Customers: 4 at the end of Q1, 3 at the end of Q2 (c2 left): -1, -25 %.
    assert tiles["Customers"] == ("3", "▼ -1 (-25.0%)")
    assert 'class="change down"' in page
    # Customer churn rate of Q2: c2 of the 4 paying at its start, 25 %; Q1 had
    # no customer at its start, so there is no change to show.
    assert tiles["Customer churn rate"][0] == "25.0%"
    # Net new MRR: Q1 is 300 of new business; Q2 is expansion 50 - churn 50.
    assert tiles["Net new MRR"] == ("$0.00", "▼ -$300.00 (-100.0%)")


def test_overview_year_in_progress(viewer):
    page = viewer.get(f"/overview?{AS_OF}&interval=year").text
    # 2025 is not over on 30 June: it is shown as in progress.
    assert "Period 2025, in progress on the report day" in _text(page)
    assert _tiles(page)["MRR"][0] == "$300.00"


def test_overview_movements_table(viewer):
    page = viewer.get(f"/overview?{AS_OF}").text
    rows = _table(page, "movements-table")
    assert rows[0][:3] == ["Period", "MRR at start", "New"]
    april = next(row for row in rows if row[0] == "2025-04")
    # Start 300, new 0, expansion 50, reactivation 0, contraction 0, churn 50,
    # fx 0, net new 0, end 300.
    assert april[1:] == [
        "$300.00",
        "$0.00",
        "$50.00",
        "$0.00",
        "$0.00",
        "$50.00",
        "$0.00",
        "$0.00",
        "$300.00",
    ]
    assert 'data-png-for="movements-chart"' in page


def test_overview_movements_csv(viewer):
    response = viewer.get(f"/overview?{AS_OF}&table=movements&format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(response.text))
    assert frame["period"].tolist() == [f"2025-0{m}" for m in range(1, 7)]
    assert frame["mrr_end"].tolist() == [150.0, 200.0, 300.0, 300.0, 300.0, 300.0]
    assert frame["new"].tolist() == [150.0, 50.0, 100.0, 0.0, 0.0, 0.0]
    assert frame.loc[3, "churn"] == 50.0
    assert frame.loc[3, "expansion"] == 50.0


def test_overview_kpis_xlsx(viewer):
    response = viewer.get(f"/overview?{AS_OF}&table=kpis&format=xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    rows = list(book.active.iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("period", "mrr", "arr")
    april = dict(zip(header, rows[4], strict=True))
    assert april["period"] == "2025-04"
    assert april["mrr"] == 300
    # 1 churned of 4 customers at the start of April.
    assert april["customer_churn_rate"] == 0.25
    # Gross MRR churn: churn 50 / MRR at the start 300.
    assert april["gross_mrr_churn_rate"] == pytest.approx(50 / 300)


def test_overview_french(viewer):
    viewer.cookies.set("revaxis_lang", "fr")
    page = viewer.get(f"/overview?{AS_OF}&interval=quarter").text
    assert '<html lang="fr">' in page
    assert "Vue d'ensemble" in _text(page)
    assert "Période 2025-Q2 comparée à 2025-Q1." in _text(page)
    tiles = _tiles(page)
    assert tiles["MRR"][0] == f"300,00{NBSP}$US"
    assert tiles["ARR"][0] == f"3{NNBSP}600,00{NBSP}$US"
    assert tiles["Clients"][0] == "3"
    assert tiles["Taux d'attrition clients"][0] == "25,0 %"
    assert "30 juin 2025" in page
    assert '"separators": ",\\u202f"' in page


def test_overview_bad_interval_is_inline(viewer):
    response = viewer.get(f"/overview?{AS_OF}&interval=week")
    assert response.status_code == 400
    assert "Invalid interval &#39;week&#39;" in response.text
    assert 'role="alert"' in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=0000-01", "Invalid period &#39;0000-01&#39;: the year must be from"),
        ("to=9999-Q4", "Invalid period &#39;9999-Q4&#39;: the year must be from"),
        ("as_of=9999-12-31", "Invalid report day 9999-12-31: use a day from"),
    ],
    ids=["from", "to", "as_of"],
)
@pytest.mark.parametrize(
    "path", ["/overview", "/segments", "/cohorts"], ids=lambda p: p.strip("/")
)
def test_report_day_out_of_range_is_inline(viewer, path, query, message):
    response = viewer.get(f"{path}?{query}")
    assert response.status_code == 400
    assert message in response.text
    assert 'role="alert"' in response.text


@pytest.mark.parametrize("path", ["/segments/results", "/segments/drill"])
def test_segments_fragments_reject_year_0(viewer, path):
    response = viewer.get(f"{path}?from=0000-01&axis=plan")
    assert response.status_code == 400
    assert "Invalid period &#39;0000-01&#39;: the year must be from 1900" in (
        response.text
    )


# Segments explorer ----------------------------------------------------------


def test_segments_mrr_by_plan(viewer):
    response = viewer.get(f"/segments?{AS_OF}&axis=plan")
    assert response.status_code == 200
    rows = _table(response.text, "segments-table")
    # The header gives the axis label, not its key.
    assert rows[0] == ["Plan", *[f"2025-0{m}" for m in range(1, 7)]]
    by_plan = {row[0]: row[1:] for row in rows[1:]}
    # Pro: c1 100, then + c4 in March, + c3 in April. Basic: c2 50, + c3 50 in
    # February and March, nothing in April; no row after April.
    assert by_plan["Pro"] == [
        "$100.00",
        "$100.00",
        "$200.00",
        "$300.00",
        "$300.00",
        "$300.00",
    ]
    assert by_plan["Basic"] == ["$50.00", "$100.00", "$100.00", "$0.00", "–", "–"]
    assert 'data-png-for="segments-chart"' in response.text


def test_segments_two_axes_churn(viewer):
    response = viewer.get(
        f"/segments/results?{AS_OF}&axis=plan&axis2=channel&kpi=churn&from=2025-04"
        "&to=2025-04"
    )
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"].startswith("/segments?")
    rows = _table(response.text, "segments-table")
    assert rows[0] == ["Plan", "Channel", "2025-04"]
    cells = {(row[0], row[1]): row[2] for row in rows[1:]}
    # Only c2 (Basic, Ads) churned in April, 50.
    assert cells[("Basic", "Ads")] == "$50.00"
    assert cells[("Pro", "SEO")] == "$0.00"


def test_segments_csv_and_xlsx(viewer):
    query = f"{AS_OF}&axis=plan&kpi=customers"
    csv = viewer.get(f"/segments/results?{query}&format=csv")
    assert csv.status_code == 200
    frame = pd.read_csv(io.StringIO(csv.text))
    assert frame.columns.tolist() == ["plan", *[f"2025-0{m}" for m in range(1, 7)]]
    pro = frame[frame["plan"] == "Pro"].iloc[0]
    # Pro customers: c1; c1; c1, c4; then c1, c3, c4.
    assert pro.tolist()[1:] == [1, 1, 2, 3, 3, 3]
    xlsx = viewer.get(f"/segments/results?{query}&format=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][0] == "plan"
    assert ("Pro", 1, 1, 2, 3, 3, 3) in rows


def _drill_links(page: str) -> list[tuple[str, str]]:
    """Return (url, shown number) of every drill link of the explorer table."""
    links = re.findall(r'<a class="drill" href="([^"]+)"[^>]*>([^<]*)</a>', page)
    return [(html.unescape(url), text) for url, text in links]


def _amount(text: str) -> float:
    return float(text.replace("$", "").replace(",", "").replace("%", ""))


@pytest.mark.parametrize(
    "kpi", ["mrr", "churn", "expansion", "customers", "net_new_mrr"]
)
def test_drill_amounts_sum_to_clicked_number(viewer, kpi):
    page = viewer.get(f"/segments/results?{AS_OF}&axis=plan&kpi={kpi}").text
    links = _drill_links(page)
    assert links
    for url, shown in links:
        drill = viewer.get(url)
        assert drill.status_code == 200, url
        rows = _table(drill.text, "drill-table")
        contributions = [
            _amount(row[6]) for row in rows[1:] if not row[0].startswith("No ")
        ]
        assert sum(contributions) == pytest.approx(_amount(shown)), url


def test_drill_lists_pro_customers(viewer):
    # MRR of plan Pro in April 2025: c1, c3 and c4, 100 each = 300.
    response = viewer.get(
        f"/segments/drill?{AS_OF}&axis=plan&kpi=mrr&period=2025-04&value=Pro",
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    rows = _table(response.text, "drill-table")
    assert [row[0] for row in rows[1:]] == ["c1", "c3", "c4"]
    assert [row[5] for row in rows[1:]] == ["$100.00"] * 3
    assert "3 rows, total $300.00." in _text(response.text)


def test_drill_churn_shows_day_and_tenure(viewer):
    response = viewer.get(f"/segments/drill?{AS_OF}&kpi=churn&period=2025-04")
    rows = _table(response.text, "drill-table")
    # c2 churned 50 on 1 April 2025, 90 days after its acquisition on 1 January.
    assert rows[1] == [
        "c2",
        "Bistro Paris",
        "Apr 1, 2025",
        "Churn",
        "$50.00",
        "$50.00",
        "Jan 1, 2025",
        "90",
    ]


def test_drill_rate_shows_ratio(viewer):
    response = viewer.get(
        f"/segments/drill?{AS_OF}&kpi=customer_churn_rate&period=2025-04"
    )
    # 1 churned customer (c2) / 4 customers at the start of April = 25 %.
    assert "1 rows: 1 / 4 = 25.0%." in _text(response.text)


def test_drill_csv(viewer):
    response = viewer.get(
        f"/segments/drill?{AS_OF}&axis=plan&kpi=mrr&period=2025-03&value=Basic"
        "&format=csv"
    )
    frame = pd.read_csv(io.StringIO(response.text))
    # Basic in March: c2 50 + c3 50.
    assert frame["customer_id"].tolist() == ["c2", "c3"]
    assert frame["contribution"].sum() == 100.0


def test_drill_french(viewer):
    viewer.cookies.set("revaxis_lang", "fr")
    response = viewer.get(f"/segments/drill?{AS_OF}&kpi=churn&period=2025-04")
    rows = _table(response.text, "drill-table")
    assert rows[0][0] == "Client"
    assert rows[1][2] == "1 avr. 2025"
    assert rows[1][3] == "Attrition"
    assert rows[1][4] == f"50,00{NBSP}$US"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("axis=nope", "Unknown axis &#39;nope&#39;", id="axis"),
        pytest.param(
            "axis=plan&filter=country+in+(",
            "Invalid filter at column 13",
            id="filter-syntax",
        ),
        pytest.param("axis=plan&filter=country+%3D+%27XX%27", "XX", id="filter-value"),
        pytest.param("from=2025-13", "month 13 is not 01-12", id="period"),
        pytest.param("kpi=ebitda", "Unknown KPI &#39;ebitda&#39;", id="kpi"),
        pytest.param("as_of=30/06/2025", "Invalid report day", id="as-of"),
    ],
)
def test_segments_bad_input_is_inline(viewer, query, message):
    page = viewer.get(f"/segments?{AS_OF}&{query}")
    assert page.status_code == 400
    assert message in page.text
    assert 'role="alert"' in page.text
    assert "Traceback" not in page.text
    fragment = viewer.get(
        f"/segments/results?{AS_OF}&{query}", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert message in fragment.text


def test_drill_bad_period_is_inline(viewer):
    response = viewer.get(
        f"/segments/drill?{AS_OF}&kpi=mrr&period=April", headers={"HX-Request": "1"}
    )
    assert response.status_code == 200
    assert "Invalid period &#39;April&#39;" in response.text


def test_api_drill(viewer):
    response = viewer.get(
        f"/api/v1/drill?{AS_OF}&kpi=mrr&period=2025-04&by=plan&segment=Pro"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 300.0
    assert body["segment"] == {"plan": "Pro"}
    assert [row["customer_id"] for row in body["rows"]] == ["c1", "c3", "c4"]
    assert sum(row["contribution"] for row in body["rows"]) == body["total"]
    assert body["rows"][0]["acquired_on"] == "2025-01-01"


def test_api_drill_rate(viewer):
    response = viewer.get(
        f"/api/v1/drill?{AS_OF}&kpi=gross_mrr_churn_rate&period=2025-04"
    )
    body = response.json()
    # (churn 50 + contraction 0) / MRR at the start 300.
    assert body["total"] == 50.0
    assert body["denominator"] == 300.0
    assert body["value"] == pytest.approx(1 / 6)


def test_api_drill_csv(viewer):
    response = viewer.get(
        f"/api/v1/drill?{AS_OF}&kpi=new&period=2025-Q1&interval=quarter&format=csv"
    )
    frame = pd.read_csv(io.StringIO(response.text))
    # New MRR of Q1: c1 100, c2 50, c3 50, c4 100.
    assert sorted(frame["customer_id"]) == ["c1", "c2", "c3", "c4"]
    assert frame["contribution"].sum() == 300.0


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        pytest.param("kpi=ltv&period=2025-04", "kpi", id="kpi"),
        pytest.param("kpi=mrr&period=2025-04&by=plan", "segment", id="segment"),
        pytest.param("kpi=mrr&period=2025-04&format=pdf", "format", id="format"),
    ],
)
def test_api_drill_bad_input(viewer, query, parameter):
    response = viewer.get(f"/api/v1/drill?{AS_OF}&{query}")
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == parameter


# Cohorts --------------------------------------------------------------------


def test_cohorts_logo_retention(viewer):
    response = viewer.get(f"/cohorts?{AS_OF}")
    assert response.status_code == 200
    rows = _table(response.text, "cohort-table")
    assert rows[0][:4] == ["Cohort", "Customers", "MRR at acquisition", "0"]
    january = rows[1]
    # January cohort: c1 and c2, 150 at acquisition; c2 leaves on 1 April, so
    # from age 3 (April) one of two customers remains.
    assert january == [
        "2025-01",
        "2",
        "$150.00",
        "100.0%",
        "100.0%",
        "100.0%",
        "50.0%",
        "50.0%",
        "50.0%",
    ]
    assert 'data-png-for="cohort-chart"' in response.text


def test_cohorts_net_mrr_by_plan(viewer):
    page = viewer.get(f"/cohorts?{AS_OF}&metric=net_mrr_retention&axis=plan").text
    rows = _table(page, "cohort-table")
    assert rows[0][:2] == ["Cohort", "Plan"]
    cells = {(row[0], row[1]): row[4:] for row in rows[1:]}
    # c3 was acquired on Basic in February (50) and pays 100 on Pro from April
    # (age 2): 200 %. It stays in the Basic cohort.
    assert cells[("2025-02", "Basic")][:3] == ["100.0%", "100.0%", "200.0%"]
    assert ("2025-02", "Pro") not in cells


def test_cohorts_csv(viewer):
    response = viewer.get(f"/cohorts?{AS_OF}&format=csv")
    frame = pd.read_csv(io.StringIO(response.text))
    assert frame.columns.tolist()[:4] == ["cohort", "customers", "mrr_initial", "age_0"]
    assert frame.loc[0, "age_3"] == 0.5
    assert frame["customers"].tolist() == [2, 1, 1]


def test_cohorts_french_xlsx(viewer):
    viewer.cookies.set("revaxis_lang", "fr")
    page = viewer.get(f"/cohorts?{AS_OF}").text
    assert "Rétention des clients" in page
    assert "50,0 %" in page
    response = viewer.get(f"/cohorts?{AS_OF}&metric=net_mrr_retention&format=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("cohort", "customers", "mrr_initial")
    # February cohort, age 2: c3 went from 50 to 100.
    assert rows[2][3 + 2] == 2


def test_cohorts_bad_metric_is_inline(viewer):
    response = viewer.get(f"/cohorts?{AS_OF}&metric=ltv")
    assert response.status_code == 400
    assert "Unknown retention metric &#39;ltv&#39;" in response.text


# Downloads from every report URL -------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/overview?", id="overview-kpis"),
        pytest.param("/overview?table=movements&", id="overview-movements"),
        pytest.param("/segments?axis=plan&", id="segments-page"),
        pytest.param("/segments/results?axis=plan&", id="segments-results"),
        pytest.param("/segments/drill?kpi=mrr&period=2025-04&", id="drill"),
        pytest.param("/cohorts?", id="cohorts"),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_report_url_downloads_table(viewer, path, fmt):
    response = viewer.get(f"{path}{AS_OF}&format={fmt}")
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert disposition.endswith(f'.{fmt}"')
    assert "text/html" not in response.headers["content-type"]


def test_segments_page_csv_matches_results(viewer):
    query = f"{AS_OF}&axis=plan&kpi=customers&format=csv"
    page = viewer.get(f"/segments?{query}")
    results = viewer.get(f"/segments/results?{query}")
    assert page.text == results.text
    frame = pd.read_csv(io.StringIO(page.text))
    # Basic customers: c2; c2, c3; c2, c3; then none from April.
    basic = frame[frame["plan"] == "Basic"].iloc[0]
    assert basic.tolist()[1:4] == [1, 2, 2]


def test_segments_page_bad_format(viewer):
    response = viewer.get(f"/segments?{AS_OF}&format=pdf")
    assert response.status_code == 400
    assert "Invalid export format &#39;pdf&#39;" in response.text


# Amounts rounded to the cent ------------------------------------------------


@pytest.fixture
def noisy(make_workspace):
    """A workspace whose January net new MRR adds up with float noise: c1 is
    new at 100.10 and c2 expands from 50.00 to 250.20 (+200.20). In floats,
    100.10 + 200.20 is 300.29999999999995; in cents it is 30030."""
    from fastapi.testclient import TestClient
    from tests.conftest import line
    from tests.webapp import PASSWORD

    from revaxis.web import create_app

    ws = make_workspace(
        [
            line("c1", "2025-01-01", "2025-02-01", 100.10),
            line("c2", "2024-12-01", "2025-01-01", 50.00),
            line("c2", "2025-01-01", "2025-02-01", 250.20),
        ]
    )
    ws.users.add("viewer@example.com", PASSWORD, "viewer")
    with TestClient(create_app(ws)) as client:
        login(client, "viewer@example.com")
        yield client


def test_net_new_mrr_sums_cents():
    frame = pd.DataFrame(
        {
            "new": [100.10],
            "expansion": [200.20],
            "reactivation": [0.0],
            "contraction": [0.0],
            "churn": [0.0],
        }
    )
    from revaxis.web._report_views import net_new_mrr

    # 100.10 + 200.20 in floats is 300.29999999999995.
    assert net_new_mrr(frame).tolist() == [300.30]


@pytest.mark.parametrize("table", ["kpis", "movements"])
def test_overview_csv_has_no_float_noise(noisy, table):
    response = noisy.get(f"/overview?as_of=2025-01-31&table={table}&format=csv")
    assert response.status_code == 200
    # The raw text, not a parsed float: 300.29999999999995 would parse close.
    last = response.text.strip().splitlines()[-1]
    assert last.startswith("2025-01,")
    assert "300.3" in last.split(",")
    assert "99999" not in response.text


def test_segments_csv_has_no_float_noise(noisy):
    response = noisy.get(
        "/segments?as_of=2025-01-31&kpi=net_new_mrr&from=2025-01&format=csv"
    )
    assert response.text.splitlines() == ["2025-01", "300.3"]


# Errors ---------------------------------------------------------------------


def test_unknown_axis_keeps_suggestion(viewer):
    response = viewer.get(f"/segments?{AS_OF}&axis=chanel")
    assert response.status_code == 400
    text = _text(response.text)
    assert "Unknown axis 'chanel'. Did you mean 'channel'?" in text


@pytest.mark.parametrize("path", ["/cohorts", "/segments/drill"])
def test_unknown_axis_suggestion_other_pages(viewer, path):
    response = viewer.get(f"{path}?{AS_OF}&axis=chanel&kpi=mrr&period=2025-04")
    assert "Did you mean 'channel'?" in _text(response.text)


@pytest.mark.parametrize(
    ("query", "french"),
    [
        pytest.param(
            "kpi=ebitda",
            "Indicateur « ebitda » inconnu : choisissez parmi mrr, arr,",
            id="kpi",
        ),
        pytest.param(
            "as_of=30/06/2025",
            "Jour du rapport « 30/06/2025 » invalide : écrivez une date",
            id="as-of",
        ),
        # The library's own message stays in English, suggestion included.
        pytest.param(
            "axis=chanel", "Unknown axis 'chanel'. Did you mean 'channel'?", id="axis"
        ),
    ],
)
def test_errors_in_french(viewer, query, french):
    viewer.cookies.set("revaxis_lang", "fr")
    response = viewer.get(f"/segments?{AS_OF}&{query}")
    assert response.status_code == 400
    assert french in _text(response.text)


def test_cohorts_bad_metric_in_french(viewer):
    viewer.cookies.set("revaxis_lang", "fr")
    response = viewer.get(f"/cohorts?{AS_OF}&metric=ltv")
    assert "Mesure de rétention « ltv » inconnue" in _text(response.text)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        pytest.param("kpi=foo&period=2025-04", "kpi", id="kpi"),
        pytest.param("kpi=mrr&period=April", "period", id="period"),
        pytest.param("kpi=mrr&period=2025-04&by=plan", "segment", id="segment-none"),
        pytest.param(
            "kpi=mrr&period=2025-04&segment=Pro", "segment", id="segment-no-axis"
        ),
        pytest.param("kpi=mrr&period=2025-04&by=chanel&segment=x", "by", id="by"),
        pytest.param(
            "kpi=mrr&period=2025-04&filter=country+in+(", "filter", id="filter"
        ),
        pytest.param(
            "kpi=mrr&period=2025-04&filter=country+%3D+%27XX%27",
            "filter",
            id="filter-value",
        ),
        pytest.param("kpi=mrr&period=2025-04&interval=week", "interval", id="interval"),
        pytest.param("kpi=mrr&period=2025-04&currency=DOLLARS", "currency", id="cur"),
        pytest.param("kpi=mrr&period=2025-04&as_of=2025-13-01", "as_of", id="as-of"),
    ],
)
def test_api_drill_error_names_parameter(viewer, query, parameter):
    # No AS_OF prefix: the as_of case gives its own.
    response = viewer.get(f"/api/v1/drill?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == parameter


def test_api_drill_unknown_axis_suggests(viewer):
    response = viewer.get("/api/v1/drill?kpi=mrr&period=2025-04&by=chanel&segment=x")
    assert "Did you mean 'channel'?" in response.json()["error"]["message"]


# Axis labels ----------------------------------------------------------------


def test_axis_labels_in_titles_and_headers(viewer):
    page = viewer.get(f"/segments?{AS_OF}&axis=plan&axis2=channel").text
    assert "<h2>MRR by Plan × Channel</h2>" in page
    drill = viewer.get(
        f"/segments/drill?{AS_OF}&axis=plan&kpi=mrr&period=2025-04&value=Pro"
    ).text
    assert _table(drill, "drill-table")[0][2] == "Plan"
    assert "MRR · 2025-04 · Plan = Pro" in _text(drill)
    cohorts = viewer.get(f"/cohorts?{AS_OF}&axis=plan").text
    assert "Logo retention · by Plan" in _text(cohorts)


def test_axis_labels_in_french(viewer):
    viewer.cookies.set("revaxis_lang", "fr")
    page = viewer.get(f"/segments?{AS_OF}&axis=plan").text
    assert "<h2>MRR par Formule</h2>" in page
    assert _table(page, "segments-table")[0][0] == "Formule"


# Period in progress and range -------------------------------------------------


def _figure(page: str, chart: str) -> dict:
    found = re.search(
        rf'<script type="application/json" id="{chart}-figure">(.*?)</script>',
        page,
        re.S,
    )
    assert found, f"no figure {chart}"
    return json.loads(found[1])


def _range_boxes(page: str) -> tuple[str, str]:
    start = re.search(r'name="from" size="8" value="([^"]*)"', page)[1]
    end = re.search(r'name="to" size="8" value="([^"]*)"', page)[1]
    return start, end


def test_segments_end_at_latest_complete_period(viewer):
    # On 15 June 2025, June is in progress, so the range ends with May.
    page = viewer.get("/segments?as_of=2025-06-15&axis=plan").text
    rows = _table(page, "segments-table")
    assert rows[0] == ["Plan", "2025-01", "2025-02", "2025-03", "2025-04", "2025-05"]
    assert _range_boxes(page) == ("2025-01", "2025-05")
    assert (
        "placeholder="
        not in re.search(r'<div id="range-fields".*?</div>', page, re.S)[0]
    )
    assert "in-progress-note" not in page


def test_segments_marks_period_in_progress(viewer):
    page = viewer.get("/segments?as_of=2025-06-15&axis=plan&to=2025-06").text
    rows = _table(page, "segments-table")
    assert rows[0][-1] == "2025-06 (in progress)"
    # Pro on 15 June: c1, c3 and c4 pay 100 each.
    pro = next(row for row in rows if row[0] == "Pro")
    assert pro[-1] == "$300.00"
    assert "2025-06 is in progress on the report day, Jun 15, 2025" in _text(page)
    figure = _figure(page, "segments-chart")
    assert figure["layout"]["annotations"][0]["x"] == "2025-06"
    assert figure["layout"]["annotations"][0]["text"] == "in progress"
    # The shaded band covers the sixth category: positions 4.5 to 5.5.
    shape = figure["layout"]["shapes"][0]
    assert (shape["x0"], shape["x1"]) == (4.5, 5.5)
    dashed = [t for t in figure["data"] if t["line"]["dash"] == "dash"]
    assert [t["x"] for t in dashed] == [["2025-05", "2025-06"]] * 2
    solid = [t for t in figure["data"] if t["line"]["dash"] == "solid"]
    assert solid[0]["x"][-1] == "2025-05"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "interval=quarter&from=2025-02&to=2025-05",
            ("2025-Q1", "2025-Q2"),
            id="months-as-quarters",
        ),
        pytest.param(
            "interval=month&from=2025-Q1&to=2025-Q2",
            ("2025-01", "2025-06"),
            id="quarters-as-months",
        ),
        pytest.param(
            "interval=month&from=2025&to=2025", ("2025-01", "2025-12"), id="year"
        ),
    ],
)
def test_segments_range_follows_interval(viewer, query, expected):
    page = viewer.get(f"/segments?{AS_OF}&axis=plan&{query}").text
    assert _range_boxes(page) == expected


def test_segments_fragment_swaps_range(viewer):
    response = viewer.get(
        "/segments/results?as_of=2025-06-15&axis=plan&interval=quarter",
        headers={"HX-Request": "true"},
    )
    range_fields = re.search(r'<div id="range-fields"[^>]*>', response.text)[0]
    assert 'hx-swap-oob="true"' in range_fields
    # Q2 is in progress on 15 June and Q1 is the latest complete quarter.
    assert _range_boxes(response.text) == ("2025-Q1", "2025-Q1")


# Bucket axes ----------------------------------------------------------------


@pytest.fixture
def banded(viewer):
    """The viewer's workspace with an MRR band axis of edges 5, 60 and 100:
    Basic customers (50) fall in "5-60" and Pro ones (100) in "100+"."""
    state = viewer.app.state
    with state.lock:
        state.workspace.create_axis(
            "band", source="computed.mrr_band", level="customer", buckets=[5, 60, 100]
        )
    return viewer


def test_bucket_axis_keeps_bucket_order(banded):
    page = banded.get(f"/segments?{AS_OF}&axis=band&to=2025-03").text
    rows = _table(page, "segments-table")
    # By MRR in March, "100+" (c1 and c4, 200) would come before "5-60" (c2
    # and c3, 100), and alphabetically too; by lower edge 5 comes before 100.
    assert [row[0] for row in rows[1:]] == ["5-60", "100+"]
    figure = _figure(page, "segments-chart")
    assert [trace["name"] for trace in figure["data"]] == ["5-60", "100+"]


def test_bucket_axis_order_in_cohorts(banded):
    page = banded.get(f"/cohorts?{AS_OF}&axis=band").text
    rows = _table(page, "cohort-table")
    # January's cohort: c2 (Basic 50) and c1 (Pro 100) at acquisition.
    assert [row[1] for row in rows[1:] if row[0] == "2025-01"] == ["5-60", "100+"]


@pytest.mark.parametrize(
    ("label", "edge"),
    [
        ("0-100", 0.0),
        ("100-500", 100.0),
        ("1000+", 1000.0),
        ("2.5-10", 2.5),
        ("100000-1e+06", 100000.0),
        ("1e+06+", 1_000_000.0),
        ("(none)", float("inf")),
    ],
)
def test_bucket_edge(label, edge):
    from revaxis.web._report_views import bucket_edge

    assert bucket_edge(label) == edge


# Charts ---------------------------------------------------------------------


def test_cohort_heatmap_layout(viewer):
    page = viewer.get(f"/cohorts?{AS_OF}&axis=plan").text
    figure = _figure(page, "cohort-chart")
    heatmap = figure["data"][0]
    assert heatmap["y"][:2] == ["2025-01 · Basic", "2025-01 · Pro"]
    assert figure["layout"]["yaxis"]["automargin"] is True
    # Logo retention cannot pass 100 %, so the scale is fixed at 0..1.
    assert (heatmap["zmin"], heatmap["zmax"]) == (0, 1.0)
    # The strongest colour is the highest retention.
    assert heatmap["colorscale"][0] == [0.0, "#f7fbff"]
    assert heatmap["colorscale"][-1] == [1.0, "#08306b"]
    assert figure["export"]["title"] == (
        "Logo retention by Plan · USD · report day Jun 30, 2025"
    )


def test_net_mrr_heatmap_scale(viewer):
    page = viewer.get(f"/cohorts?{AS_OF}&metric=net_mrr_retention").text
    heatmap = _figure(page, "cohort-chart")["data"][0]
    # Cells: January 1, 1, 1, then 2/3 three times (c2's 50 of 150 leaves);
    # February 1, 1, then 2 three times (c3 goes from 50 to 100); March 1 four
    # times. Sorted, the 15 cells end with 2, 2, 2, so the 95th percentile
    # (position 0.95 x 14 = 13.3) is 2.
    assert heatmap["zmax"] == 2.0
    assert heatmap["text"][1][2] == "200.0%"


def test_retention_range_clips_outliers():
    import numpy as np

    from revaxis.web._report_charts import retention_range

    # 0.0, 0.1, ..., 2.0 and one outlier of 50: 22 values, the 95th percentile
    # at position 0.95 x 21 = 19.95 lies between 1.9 and 2.0: 1.995.
    values = np.array([[i / 10 for i in range(21)] + [50.0]])
    assert retention_range(values, "net_mrr_retention") == pytest.approx(1.995)
    assert retention_range(values, "logo_retention") == 1.0
    assert retention_range(np.array([[0.5, np.nan]]), "net_mrr_retention") == 1.0


@pytest.fixture
def thirteen(make_workspace):
    """Thirteen customers, each in its own channel ch01..ch13, paying 10 x its
    number per month in January 2025: ch01 pays 10, ch13 pays 130."""
    from fastapi.testclient import TestClient
    from tests.conftest import line
    from tests.webapp import PASSWORD

    from revaxis.web import create_app

    ids = [f"c{n:02d}" for n in range(1, 14)]
    ws = make_workspace(
        [
            line(cid, "2025-01-01", "2025-02-01", 10.0 * n)
            for n, cid in enumerate(ids, 1)
        ],
        customers=[
            {"customer_id": cid, "metadata.channel": f"ch{n:02d}"}
            for n, cid in enumerate(ids, 1)
        ],
    )
    ws.create_axis("channel", source="metadata.channel", level="customer")
    ws.users.add("viewer@example.com", PASSWORD, "viewer")
    with TestClient(create_app(ws)) as client:
        login(client, "viewer@example.com")
        yield client


def test_segments_chart_top_ten_and_other(thirteen):
    page = thirteen.get("/segments?as_of=2025-01-31&axis=channel").text
    figure = _figure(page, "segments-chart")
    names = [trace["name"] for trace in figure["data"]]
    # The ten largest, ch13 (130) down to ch04 (40), then ch01..ch03 summed:
    # 10 + 20 + 30 = 60.
    assert names == [f"ch{n:02d}" for n in range(13, 3, -1)] + ["Other (3 segments)"]
    other = figure["data"][-1]
    assert other["y"] == [60.0]
    assert other["customdata"] is None
    colours = [trace["line"]["color"] for trace in figure["data"][:10]]
    assert len(set(colours)) == 10
    assert figure["layout"]["legend"]["orientation"] == "v"
    assert "adds the others up in one line" in _text(page)
    # The table keeps every segment.
    assert len(_table(page, "segments-table")) == 1 + 13


def test_segments_chart_top_ten_without_other_for_arpa(thirteen):
    page = thirteen.get("/segments?as_of=2025-01-31&axis=channel&kpi=arpa").text
    figure = _figure(page, "segments-chart")
    assert len(figure["data"]) == 10
    assert "Other" not in " ".join(trace["name"] for trace in figure["data"])
    assert (
        "The chart draws only the 10 segments of 13 ranked first by their value "
        "in 2025-01: this KPI does not add up across segments."
    ) in _text(page)


@pytest.mark.parametrize(
    ("kpi", "tick", "zero", "title"),
    [
        pytest.param("mrr", ",.2~f", True, "MRR (USD)", id="money"),
        pytest.param("customers", ",~r", True, "Customers", id="count"),
        pytest.param(
            "customer_churn_rate", ".1%", False, "Customer churn rate", id="rate"
        ),
    ],
)
def test_segments_chart_value_axis(viewer, kpi, tick, zero, title):
    page = viewer.get(f"/segments?{AS_OF}&axis=plan&kpi={kpi}").text
    figure = _figure(page, "segments-chart")
    axis = figure["layout"]["yaxis"]
    assert axis["tickformat"] == tick
    assert axis["automargin"] is True
    assert axis["title"]["text"] == title
    assert (axis.get("rangemode") == "tozero") is zero


def test_segments_export_title(viewer):
    page = viewer.get(f"/segments?{AS_OF}&axis=plan&kpi=churn").text
    figure = _figure(page, "segments-chart")
    assert figure["export"]["title"] == (
        "Churned MRR by Plan · USD · report day Jun 30, 2025"
    )


def test_overview_chart_axes(viewer):
    figure = _figure(viewer.get(f"/overview?{AS_OF}").text, "movements-chart")
    layout = figure["layout"]
    assert layout["yaxis"]["title"]["text"] == "MRR movements (USD)"
    assert layout["yaxis2"]["tickmode"] == "auto"
    assert layout["yaxis2"]["rangemode"] == "tozero"
    assert figure["export"]["title"] == (
        "MRR movements · USD · report day Jun 30, 2025"
    )
