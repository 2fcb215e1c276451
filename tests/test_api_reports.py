"""REST API report routes on the web test workspace (tests/webapp.py).

Every line is monthly, in USD, and ends on the first of the next month. c1
pays Pro 100 from January to June 2025 and c2 Basic 50 from January to March.
c3 pays Basic 50 in February and March, then Pro 100 from April to June. c4
pays Pro 100 from March to June. Channels are c1 "SEO", c2 "Ads", c3 "seo " (stored
trimmed as "seo") and c4 "Ads".
"""

from __future__ import annotations

import io

import openpyxl
import pytest

AS_OF = "2025-06-30"
REPORTS = ["/api/v1/mrr", "/api/v1/kpis", "/api/v1/cohorts", "/api/v1/lifetimes"]
ALL_REPORTS = [*REPORTS, "/api/v1/movements"]


def _by_period(rows: list[dict], **segment: str) -> dict[str, dict]:
    """Index report rows by period, keeping the rows of one segment."""
    return {
        row["period"]: row
        for row in rows
        if all(row[key] == value for key, value in segment.items())
    }


def test_mrr_by_month(web_client, api_headers):
    response = web_client.get(
        "/api/v1/mrr", params={"as_of": AS_OF}, headers=api_headers["viewer"]
    )
    assert response.status_code == 200
    rows = _by_period(response.json())
    assert list(rows) == [
        "2025-01",
        "2025-02",
        "2025-03",
        "2025-04",
        "2025-05",
        "2025-06",
    ]
    # January: c1 100 + c2 50, both new.
    assert rows["2025-01"]["mrr_end"] == 150.0
    assert rows["2025-01"]["new"] == 150.0
    assert rows["2025-01"]["new_customers"] == 2
    # February: c3 joins with Basic 50.
    assert rows["2025-02"]["mrr_end"] == 200.0
    # March: c1 100 + c2 50 + c3 50 + c4 100.
    assert rows["2025-03"]["mrr_end"] == 300.0
    assert rows["2025-03"]["customers_end"] == 4
    # April: c2 churns 50, c3 expands Basic 50 to Pro 100.
    april = rows["2025-04"]
    assert april["mrr_start"] == 300.0
    assert april["churn"] == 50.0
    assert april["expansion"] == 50.0
    assert april["mrr_end"] == 300.0
    assert april["churned_customers"] == 1
    assert april["customers_end"] == 3
    assert rows["2025-06"]["mrr_end"] == 300.0


def test_mrr_by_plan_moves_by_transfer(web_client, api_headers):
    response = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "by": "plan", "from": "2025-03", "to": "2025-04"},
        headers=api_headers["viewer"],
    )
    rows = response.json()
    basic = _by_period(rows, plan="Basic")
    pro = _by_period(rows, plan="Pro")
    # March: Basic c2 50 + c3 50, Pro c1 100 + c4 100.
    assert basic["2025-03"]["mrr_end"] == 100.0
    assert pro["2025-03"]["mrr_end"] == 200.0
    # April: c2's 50 churns from Basic and c3's 50 moves to Pro, where c3
    # also expands by 50.
    assert basic["2025-04"]["churn"] == 50.0
    assert basic["2025-04"]["transfer_out"] == 50.0
    assert basic["2025-04"]["mrr_end"] == 0.0
    assert pro["2025-04"]["transfer_in"] == 50.0
    assert pro["2025-04"]["expansion"] == 50.0
    assert pro["2025-04"]["mrr_end"] == 300.0


def test_mrr_by_quarter(web_client, api_headers):
    rows = _by_period(
        web_client.get(
            "/api/v1/mrr",
            params={"as_of": AS_OF, "interval": "quarter"},
            headers=api_headers["viewer"],
        ).json()
    )
    assert list(rows) == ["2025-Q1", "2025-Q2"]
    # Q1: 150 (January) + 50 (c3) + 100 (c4) of new MRR.
    assert rows["2025-Q1"]["new"] == 300.0
    assert rows["2025-Q2"]["churn"] == 50.0


@pytest.mark.parametrize(
    ("flt", "march", "april"),
    [
        # Ads: c2 50 + c4 100 in March; c2 churned in April.
        ("channel = 'Ads'", 150.0, 100.0),
        # Case-sensitive: "SEO" is c1 only, since c3's label is "seo".
        ("channel = 'SEO'", 100.0, 100.0),
        ("not plan = 'Basic'", 200.0, 300.0),
    ],
    ids=["ads", "seo-case", "not-basic"],
)
def test_mrr_filter(web_client, api_headers, flt, march, april):
    rows = _by_period(
        web_client.get(
            "/api/v1/mrr",
            params={"as_of": AS_OF, "filter": flt},
            headers=api_headers["viewer"],
        ).json()
    )
    assert rows["2025-03"]["mrr_end"] == march
    assert rows["2025-04"]["mrr_end"] == april


def test_kpis_by_quarter(web_client, api_headers):
    rows = _by_period(
        web_client.get(
            "/api/v1/kpis",
            params={"as_of": AS_OF, "interval": "quarter"},
            headers=api_headers["viewer"],
        ).json()
    )
    q1, q2 = rows["2025-Q1"], rows["2025-Q2"]
    # Q1 ends with 300 of MRR from 4 customers: ARPA 75, ARR 3,600.
    assert q1["mrr"] == 300.0
    assert q1["arr"] == 3600.0
    assert q1["arpa"] == 75.0
    # Nobody paid at the start of Q1, so its rates are undefined (null).
    assert q1["customer_churn_rate"] is None
    assert q1["quick_ratio"] is None
    # Q2 starts with 4 customers and 300 and loses c2 (50); c3 expands by 50.
    assert q2["customers"] == 3
    assert q2["arpa"] == 100.0
    assert q2["customer_churn_rate"] == 0.25  # 1 / 4
    assert q2["gross_mrr_churn_rate"] == pytest.approx(50 / 300)
    assert q2["net_mrr_churn_rate"] == 0.0  # (50 - 50) / 300
    assert q2["quick_ratio"] == 1.0  # expansion 50 / churn 50
    assert q2["nrr_12m"] is None  # no customer paid 12 months earlier


def test_cohorts_by_month(web_client, api_headers):
    rows = web_client.get(
        "/api/v1/cohorts", params={"as_of": AS_OF}, headers=api_headers["viewer"]
    ).json()
    january = {row["age"]: row for row in rows if row["cohort"] == "2025-01"}
    # The January cohort is c1 (100) and c2 (50).
    assert january[0]["customers"] == 2
    assert january[0]["mrr_initial"] == 150.0
    assert january[2]["logo_retention"] == 1.0
    # At age 3 (April) c2 has churned: one customer and 100 of 150 remain.
    assert january[3]["customers_retained"] == 1
    assert january[3]["logo_retention"] == 0.5
    assert january[3]["mrr_retained"] == 100.0
    assert january[3]["net_mrr_retention"] == pytest.approx(100 / 150)
    february = {row["age"]: row for row in rows if row["cohort"] == "2025-02"}
    # c3 starts at 50 and doubles to 100 in April, its age 2.
    assert february[2]["net_mrr_retention"] == 2.0


def test_lifetimes_median_and_curve(web_client, api_headers):
    viewer = api_headers["viewer"]
    [summary] = web_client.get(
        "/api/v1/lifetimes", params={"as_of": AS_OF}, headers=viewer
    ).json()
    assert summary["customers"] == 4
    assert summary["churned"] == 1
    # One churn in four keeps survival at 0.75, so the median is undefined.
    assert summary["median_months"] is None
    # c2 lived from 1 January to 1 April: 90 days of 365.25 / 12.
    assert summary["median_ci_lower"] == pytest.approx(90 / (365.25 / 12))
    curve = web_client.get(
        "/api/v1/lifetimes", params={"as_of": AS_OF, "curve": "true"}, headers=viewer
    ).json()
    assert curve[0] == {
        "months": 0.0,
        "survival": 1.0,
        "ci_lower": 1.0,
        "ci_upper": 1.0,
    }
    assert curve[1]["months"] == pytest.approx(90 / (365.25 / 12))
    assert curve[1]["survival"] == pytest.approx(0.75)


def test_movements_by_plan(web_client, api_headers):
    rows = web_client.get(
        "/api/v1/movements",
        params={"as_of": AS_OF, "by": "plan"},
        headers=api_headers["viewer"],
    ).json()
    c3 = [row for row in rows if row["customer_id"] == "c3"]
    assert [(row["date"], row["plan"]) for row in c3] == [
        ("2025-02-01", "Basic"),
        ("2025-04-01", "Basic"),
        ("2025-04-01", "Pro"),
    ]
    assert c3[0]["new"] == 50.0
    assert c3[1]["transfer_out"] == 50.0
    assert c3[2]["transfer_in"] == 50.0
    assert c3[2]["expansion"] == 50.0
    # Five new movements, c2's churn, and c3's three rows above share one day.
    assert len(rows) == 7


def test_movements_filtered(web_client, api_headers):
    rows = web_client.get(
        "/api/v1/movements",
        params={"as_of": AS_OF, "filter": "channel = 'Ads'"},
        headers=api_headers["viewer"],
    ).json()
    # c2: new 50 in January, churn 50 in April; c4: new 100 in March.
    assert [(row["customer_id"], row["date"]) for row in rows] == [
        ("c2", "2025-01-01"),
        ("c2", "2025-04-01"),
        ("c4", "2025-03-01"),
    ]
    assert rows[1]["churn"] == 50.0


def test_mrr_csv_download(web_client, api_headers):
    response = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "format": "csv"},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="mrr.csv"' in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0].startswith("period,mrr_start,new,")
    assert lines[3].startswith("2025-03,200.0,100.0,")


def test_kpis_xlsx_download(web_client, api_headers):
    response = web_client.get(
        "/api/v1/kpis",
        params={"as_of": AS_OF, "format": "xlsx"},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 200
    assert 'filename="kpis.xlsx"' in response.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["period", "mrr", "arr"]
    # Row 4 is March: MRR 300.
    assert sheet.cell(row=4, column=1).value == "2025-03"
    assert sheet.cell(row=4, column=2).value == 300


@pytest.mark.parametrize("path", ALL_REPORTS, ids=lambda p: p.rsplit("/", 1)[1])
@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"by": "plna"}, "by", "Unknown axis 'plna'. Did you mean 'plan'?"),
        ({"by": "plan,plan"}, "by", "Axis given twice"),
        ({"filter": "chanel = 'SEO'"}, "filter", "Did you mean 'channel'?"),
        ({"filter": "channel = "}, "filter", "Invalid filter at column"),
        ({"filter": "channel = 'SOE'"}, "filter", "has no value 'SOE'"),
        ({"currency": "ZZZ"}, "currency", "Unknown currency 'ZZZ'"),
        ({"as_of": "2025-02-30"}, "as_of", "Invalid as_of '2025-02-30'"),
        (
            {"as_of": "9999-12-31"},
            "as_of",
            "Invalid as_of 9999-12-31: use a day from 1900-01-01 to 2200-12-31.",
        ),
        ({"format": "pdf"}, "format", "Invalid format 'pdf'"),
    ],
    ids=[
        "by",
        "by-twice",
        "filter-axis",
        "filter-syntax",
        "filter-value",
        "currency",
        "as_of",
        "as_of-out-of-range",
        "format",
    ],
)
def test_report_invalid_parameter(
    web_client, api_headers, path, params, parameter, message
):
    response = web_client.get(
        path, params={"as_of": AS_OF, **params}, headers=api_headers["viewer"]
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert message in error["message"]


@pytest.mark.parametrize("path", ["/api/v1/mrr", "/api/v1/kpis"], ids=["mrr", "kpis"])
@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"from": "2025-13"}, "from", "month 13 is not 01-12"),
        ({"to": "June"}, "to", "Invalid period 'June'"),
        ({"from": "2025-05", "to": "2025-02"}, "from", "is after to"),
        ({"interval": "week"}, "interval", "Invalid interval 'week'"),
        (
            {"from": "0000-01"},
            "from",
            "Invalid period '0000-01': the year must be from 1900 to 2200.",
        ),
        ({"to": "9999-Q4"}, "to", "the year must be from 1900 to 2200"),
        ({"to": "2263"}, "to", "the year must be from 1900 to 2200"),
        ({"to": "2262-04"}, "to", "the year must be from 1900 to 2200"),
        # 2025-01 (the first period with MRR) to 2200-12: 176 years of months.
        (
            {"to": "2200-12", "by": "plan,country"},
            "to",
            "from 2025-01 to 2200-12 covers 2,112 months, and a report covers at "
            "most 1,200 periods",
        ),
        # 1900-01 to 2025-06: 125 years of months and 6 more, 1,506 months.
        ({"from": "1900-01", "to": "2025-06"}, "to", "covers 1,506 months"),
        # Nobody pays after June 2025, so the default last period is 2025-06.
        (
            {"from": "2030-01", "as_of": AS_OF},
            "from",
            "from 2030-01 is after the last period 2025-06",
        ),
    ],
    ids=[
        "from",
        "to",
        "range",
        "interval",
        "from-year-0",
        "to-year-9999",
        "to-year-2263",
        "to-past-pandas",
        "too-many-periods",
        "too-many-both-given",
        "empty-default-end",
    ],
)
def test_period_invalid_parameter(
    web_client, api_headers, path, params, parameter, message
):
    response = web_client.get(path, params=params, headers=api_headers["viewer"])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert message in error["message"]


def test_empty_range_names_api_parameters(web_client, api_headers):
    response = web_client.get(
        "/api/v1/mrr",
        params={"from": "2030-01", "as_of": AS_OF},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "--from" not in message
    assert "--to" not in message
    assert "Give a `from` on or before 2025-06, or leave `from` out." in message


def test_drill_period_out_of_range(web_client, api_headers):
    response = web_client.get(
        "/api/v1/drill",
        params={"kpi": "mrr", "period": "0000-01", "as_of": AS_OF},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "period"
    assert "the year must be from 1900 to 2200" in error["message"]


def test_cohorts_invalid_interval(web_client, api_headers):
    response = web_client.get(
        "/api/v1/cohorts", params={"interval": "day"}, headers=api_headers["viewer"]
    )
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "interval"


def test_lifetimes_curve_not_boolean(web_client, api_headers):
    response = web_client.get(
        "/api/v1/lifetimes", params={"curve": "maybe"}, headers=api_headers["viewer"]
    )
    assert response.status_code == 422
    assert response.json()["error"]["parameter"] == "curve"


@pytest.mark.parametrize("path", ALL_REPORTS, ids=lambda p: p.rsplit("/", 1)[1])
def test_report_needs_authentication(web_client, path):
    response = web_client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
