"""Workspace.customers and Workspace.customer on the web test workspace
(tests/webapp.py), whose numbers are known by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from tests.webapp import AS_OF

import revaxis
from revaxis._errors import InputError


@pytest.fixture
def ws(web_workspace_copy: Path):
    with revaxis.Workspace(web_workspace_copy) as workspace:
        yield workspace


def test_customers_sorted_by_mrr_then_id(ws: revaxis.Workspace) -> None:
    frame, total = ws.customers(as_of=AS_OF)
    assert total == 4
    # On 30 June 2025 c1, c3 (Pro since April) and c4 pay 100 each; c2 churned
    # on 1 April. Equal MRR sorts by id.
    assert frame["customer_id"].tolist() == ["c1", "c3", "c4", "c2"]
    assert frame["mrr"].tolist() == [100.0, 100.0, 100.0, 0.0]
    assert frame["status"].tolist() == ["active", "active", "active", "churned"]
    assert frame["acquired_on"].tolist() == [
        dt.date(2025, 1, 1),
        dt.date(2025, 2, 1),
        dt.date(2025, 3, 1),
        dt.date(2025, 1, 1),
    ]
    assert list(frame.columns) == [
        "customer_id",
        "name",
        "email",
        "company",
        "country",
        "mrr",
        "status",
        "acquired_on",
    ]


def test_customers_after_every_line_ended(ws: revaxis.Workspace) -> None:
    # Every line ends on 1 July 2025, so on a later report day the report's
    # last month is July 2025 and everyone has churned.
    frame, total = ws.customers(as_of=dt.date(2026, 1, 31))
    assert total == 4
    assert frame["mrr"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert set(frame["status"]) == {"churned"}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("co", ["c1", "c3"]),  # "Acme Corp", "Cobalt GmbH"
        ("PARIS", ["c2"]),  # case-insensitive
        ("c4", ["c4"]),  # the id
        ("nobody", []),
        ("  ", ["c1", "c3", "c4", "c2"]),  # blank means no search
    ],
    ids=["name", "case", "id", "none", "blank"],
)
def test_customers_search(
    ws: revaxis.Workspace, search: str, expected: list[str]
) -> None:
    frame, total = ws.customers(search, as_of=AS_OF)
    assert frame["customer_id"].tolist() == expected
    assert total == len(expected)


def test_customers_search_email_and_company(ws: revaxis.Workspace) -> None:
    extra = pd.DataFrame(
        [
            {
                "customer_id": "c5",
                "name": "Echo",
                "email": "ops@echo_labs.example",
                "company": "Echo Labs 100%",
            }
        ]
    )
    ws.load({"customers": extra})
    # "_" and "%" are plain characters, not LIKE wildcards.
    assert ws.customers("o_l", as_of=AS_OF)[0]["customer_id"].tolist() == ["c5"]
    assert ws.customers("100%", as_of=AS_OF)[0]["customer_id"].tolist() == ["c5"]
    frame, _ = ws.customers("echo", as_of=AS_OF)
    assert frame["status"].tolist() == ["never"]
    assert frame["mrr"].tolist() == [0.0]
    assert frame["acquired_on"].tolist() == [None]


def test_customers_page(ws: revaxis.Workspace) -> None:
    frame, total = ws.customers(limit=2, offset=1, as_of=AS_OF)
    assert frame["customer_id"].tolist() == ["c3", "c4"]
    assert total == 4


@pytest.mark.parametrize(
    ("limit", "offset", "message"),
    [(0, 0, "Invalid limit 0"), (10, -1, "Invalid offset -1")],
    ids=["limit", "offset"],
)
def test_customers_invalid_page(
    ws: revaxis.Workspace, limit: int, offset: int, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        ws.customers(limit=limit, offset=offset)


def test_customer_details(ws: revaxis.Workspace) -> None:
    details = ws.customer("c3", as_of=AS_OF)
    assert set(details) == {
        "customer",
        "metadata",
        "attributes",
        "mrr_history",
        "movements",
    }
    row = details["customer"]
    assert row["customer_id"] == "c3"
    assert row["name"] == "Cobalt GmbH"
    assert row["mrr"] == 100.0
    assert row["status"] == "active"
    assert row["acquired_on"] == dt.date(2025, 2, 1)
    # The metadata value "seo " is stored trimmed.
    assert details["metadata"] == {"channel": "seo"}
    assert details["attributes"] == {
        "country": "DE",
        "region": "Europe",
        "subregion": "Western Europe",
        "cohort_month": "2025-02",
        "cohort_quarter": "2025-Q1",
        "cohort_year": "2025",
        "channel": "seo",
    }
    history = details["mrr_history"]
    # Basic (50) in February and March, Pro (100) from April.
    assert history["period"].tolist() == [
        "2025-02",
        "2025-03",
        "2025-04",
        "2025-05",
        "2025-06",
    ]
    assert history["mrr"].tolist() == [50.0, 50.0, 100.0, 100.0, 100.0]
    movements = details["movements"]
    assert movements["date"].tolist() == [dt.date(2025, 2, 1), dt.date(2025, 4, 1)]
    assert movements["new"].tolist() == [50.0, 0.0]
    assert movements["expansion"].tolist() == [0.0, 50.0]


def test_customer_attributes_follow_rules_and_history(
    ws: revaxis.Workspace,
) -> None:
    ws.add_rule("channel", "map", "seo", "SEO")
    ws.create_axis("manager", source="manual")
    ws.set_axis_value("manager", "c2", "Ann")
    ws.set_axis_value("manager", "c2", "Bob", valid_from=dt.date(2025, 3, 1))
    attributes = ws.customer("c2", as_of=AS_OF)["attributes"]
    # c2 churned on 1 April; the value in force on 30 June is still shown.
    assert attributes["manager"] == "Bob"
    assert ws.customer("c3", as_of=AS_OF)["attributes"]["channel"] == "SEO"
    assert ws.customer("c1", as_of=AS_OF)["attributes"]["manager"] is None


def test_customer_never_paid(ws: revaxis.Workspace) -> None:
    ws.load({"customers": pd.DataFrame([{"customer_id": "c9", "country": "Italy"}])})
    details = ws.customer("c9", as_of=AS_OF)
    assert details["customer"]["status"] == "never"
    assert details["customer"]["mrr"] == 0.0
    assert details["attributes"]["country"] == "IT"
    assert details["attributes"]["cohort_month"] is None
    assert details["mrr_history"].empty
    assert details["movements"].empty


def test_customer_unknown_id(ws: revaxis.Workspace) -> None:
    with pytest.raises(InputError, match="Customer 'c42' not found"):
        ws.customer("c42")


def test_customers_country_is_iso_code(ws: revaxis.Workspace) -> None:
    raw = {"c1": "U.S.", "c2": "france", "c3": "Allemagne", "c4": " Narnia "}
    ws.load(
        {
            "customers": pd.DataFrame(
                [{"customer_id": c, "country": text} for c, text in raw.items()]
            )
        }
    )
    frame, _ = ws.customers(as_of=AS_OF)
    countries = dict(zip(frame["customer_id"], frame["country"], strict=True))
    # A label that names no country stays as written, trimmed, as on the axis.
    assert countries == {"c1": "US", "c2": "FR", "c3": "DE", "c4": "Narnia"}


def test_customer_country_code_and_raw(ws: revaxis.Workspace) -> None:
    ws.load(
        {"customers": pd.DataFrame([{"customer_id": "c3", "country": "Allemagne"}])}
    )
    row = ws.customer("c3", as_of=AS_OF)["customer"]
    assert row["country"] == "DE"
    assert row["country_raw"] == "Allemagne"
    keys = list(row)
    assert keys.index("country_raw") == keys.index("country") + 1


def test_customer_without_country(ws: revaxis.Workspace) -> None:
    ws.load({"customers": pd.DataFrame([{"customer_id": "c9"}])})
    row = ws.customer("c9", as_of=AS_OF)["customer"]
    assert row["country"] is None
    assert row["country_raw"] is None
    frame, _ = ws.customers("c9", as_of=AS_OF)
    assert frame["country"].isna().tolist() == [True]
