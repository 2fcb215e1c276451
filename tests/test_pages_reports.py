"""Report pages through the TestClient: overview, segments explorer, drill-down
and cohorts, with numbers computed by hand from tests/webapp.py.

Month by month the workspace's MRR is: January 150 (c1 Pro 100 + c2 Basic 50),
February 200 (+ c3 Basic 50), March 300 (+ c4 Pro 100), then 300 in April,
May and June: on 1 April c2 churns (-50) and c3 moves from Basic 50 to Pro 100
(+50 expansion).
"""

from __future__ import annotations

import html
import io
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


# Segments explorer ----------------------------------------------------------


def test_segments_mrr_by_plan(viewer):
    response = viewer.get(f"/segments?{AS_OF}&axis=plan")
    assert response.status_code == 200
    rows = _table(response.text, "segments-table")
    assert rows[0] == ["plan", *[f"2025-0{m}" for m in range(1, 7)]]
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
    assert rows[0] == ["plan", "channel", "2025-04"]
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
        pytest.param("kpi=ltv&period=2025-04", None, id="kpi"),
        pytest.param("kpi=mrr&period=2025-04&by=plan", None, id="segment"),
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
    assert rows[0][:2] == ["Cohort", "plan"]
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
