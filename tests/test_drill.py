"""Workspace.drill: the rows behind a report number add up to that number.

The workspace is the web app's test workspace (tests/webapp.py). c1 pays Pro
100 from January to June 2025 and c2 Basic 50 from January to March. c3 pays
Basic 50 in February and March, then Pro 100 from April. c4 pays Pro 100 from
March.
"""

from __future__ import annotations

import pandas as pd
import pytest
from tests.webapp import AS_OF

import revaxis
from revaxis._drill import DRILL_KPIS
from revaxis.web._report_views import net_new_mrr

# Cases: (axes, filter, interval).
_CASES = [
    pytest.param((), None, "month", id="whole-month"),
    pytest.param(("plan",), None, "month", id="plan-month"),
    pytest.param(("plan", "channel"), None, "month", id="plan-channel-month"),
    pytest.param(("plan",), None, "quarter", id="plan-quarter"),
    pytest.param(("country",), "plan = 'Pro'", "month", id="country-filter"),
]


def _cached(method):
    """Wrap a report method so that each distinct call runs once. The data never
    changes in this module, and hundreds of drills reuse a few reports."""
    results: dict[str, pd.DataFrame] = {}

    def call(*args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        if key not in results:
            results[key] = method(*args, **kwargs)
        return results[key].copy()

    return call


@pytest.fixture(scope="module")
def ws(web_workspace):
    workspace = revaxis.Workspace(web_workspace)
    workspace.movements = _cached(workspace.movements)
    workspace.customer_mrr = _cached(workspace.customer_mrr)
    yield workspace
    workspace.close()


def _reports(ws, keys, flt, interval):
    """The MRR bridge and KPIs with the same options, merged per row."""
    options = {
        "by": list(keys) or None,
        "interval": interval,
        "as_of": AS_OF,
        "filter": flt,
    }
    bridge = ws.mrr(**options)
    bridge["net_new_mrr"] = net_new_mrr(bridge)
    kpis = ws.kpis(**options)
    only_kpis = [c for c in kpis.columns if c not in bridge.columns]
    return bridge.merge(kpis[["period", *keys, *only_kpis]], on=["period", *keys])


@pytest.mark.parametrize(("keys", "flt", "interval"), _CASES)
def test_drill_totals_match_reports(ws, keys, flt, interval):
    reports = _reports(ws, keys, flt, interval)
    assert not reports.empty
    for row in reports.to_dict("records"):
        segment = [row[k] for k in keys]
        for kpi in DRILL_KPIS:
            expected = row[kpi]
            result = ws.drill(
                kpi,
                row["period"],
                by=list(keys),
                segment=segment,
                interval=interval,
                as_of=AS_OF,
                filter=flt,
            )
            where = f"{kpi} {row['period']} {segment}"
            contributions = round(float(result.rows["contribution"].sum()), 2)
            assert contributions == result.total, where
            if pd.isna(expected):
                assert result.value is None, where
            else:
                assert result.value == pytest.approx(expected, abs=0.005), where


def test_drill_mrr_lists_paying_customers(ws):
    # MRR of plan Pro at the end of April 2025: c1, c3 (moved from Basic on
    # 1 April) and c4, 100 each, 300 in all.
    result = ws.drill("mrr", "2025-04", by="plan", segment=["Pro"], as_of=AS_OF)
    assert result.total == 300.0
    assert result.rows["customer_id"].tolist() == ["c1", "c3", "c4"]
    assert result.rows["amount"].tolist() == [100.0, 100.0, 100.0]
    assert result.rows["name"].tolist() == ["Acme Corp", "Cobalt GmbH", "Delta Inc"]


def test_drill_churn_lists_day_and_tenure(ws):
    # c2 (Basic 50, acquired 1 January) churned on 1 April: 90 days later.
    result = ws.drill("churn", "2025-04", as_of=AS_OF)
    assert result.total == 50.0
    row = result.rows.iloc[0]
    assert row["customer_id"] == "c2"
    assert str(row["date"]) == "2025-04-01"
    assert row["movement"] == "churn"
    assert str(row["acquired_on"]) == "2025-01-01"
    assert row["tenure_days"] == 90


def test_drill_rate_reports_denominator(ws):
    # Customer churn rate of April 2025: c2 of the 4 customers paying at the
    # end of March, 1 / 4 = 0.25.
    result = ws.drill("customer_churn_rate", "2025-04", as_of=AS_OF)
    assert result.total == 1.0
    assert result.denominator == 4.0
    assert result.value == 0.25


def test_drill_transfer_by_plan(ws):
    # c3 moved from Basic (50) to Pro (100) on 1 April: Pro transfer_in 50.
    result = ws.drill("transfer_in", "2025-04", by="plan", segment=["Pro"], as_of=AS_OF)
    assert result.rows["customer_id"].tolist() == ["c3"]
    assert result.total == 50.0


def test_drill_segment_as_mapping(ws):
    result = ws.drill(
        "customers",
        "2025-Q1",
        by="plan,channel",
        segment={"channel": "Ads", "plan": "Pro"},
        interval="quarter",
        as_of=AS_OF,
    )
    assert result.segment == {"plan": "Pro", "channel": "Ads"}
    assert result.rows["customer_id"].tolist() == ["c4"]


def test_drill_unknown_segment_is_empty(ws):
    result = ws.drill("mrr", "2025-04", by="plan", segment=["Gold"], as_of=AS_OF)
    assert result.rows.empty
    assert result.total == 0.0
    assert isinstance(result.rows, pd.DataFrame)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"kpi": "ltv"}, "Invalid KPI 'ltv'", id="kpi"),
        pytest.param({"period": "2025-13"}, "month 13 is not 01-12", id="period"),
        pytest.param({"interval": "week"}, "Invalid interval 'week'", id="interval"),
        pytest.param({"segment": ["Pro"]}, "without an axis", id="segment-no-axis"),
        pytest.param(
            {"by": "plan", "segment": ["Pro", "SEO"]},
            "Expected 1 segment value",
            id="segment-count",
        ),
        pytest.param({"by": "nope", "segment": ["x"]}, "nope", id="axis"),
        pytest.param({"filter": "plan ="}, "Invalid filter", id="filter"),
    ],
)
def test_drill_rejects_bad_input(ws, arguments, message):
    options = {"kpi": "mrr", "period": "2025-04", "as_of": AS_OF, **arguments}
    with pytest.raises(revaxis.InputError, match=message):
        ws.drill(options.pop("kpi"), options.pop("period"), **options)
