"""Reports with --filter: the filter keeps matching lines, and MRR that moves into
or out of the filtered set is a transfer."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import revaxis
from conftest import AS_OF, line
from revaxis.cli import app


def _month(ws, period, **kwargs):
    frame = ws.mrr(start=period, end=period, as_of=AS_OF, **kwargs)
    return frame.to_dict(orient="records")


@pytest.fixture
def ws(make_workspace):
    # a (FR, SEO) 10, b (FR, Ads) 20, c (DE, SEO) 40 a month through 2024;
    # a switches from plan basic to pro (30) on 1 March.
    lines = [
        line("a", "2024-01-01", "2024-03-01", 20, plan_id="basic"),
        line("a", "2024-03-01", "2024-04-01", 30, plan_id="pro"),
        line("b", "2024-01-01", "2024-04-01", 60, plan_id="basic"),
        line("c", "2024-01-01", "2024-04-01", 120, plan_id="pro"),
    ]
    customers = [
        {"customer_id": "a", "country": "France", "metadata.channel": "SEO"},
        {"customer_id": "b", "country": "FR", "metadata.channel": "Ads"},
        {"customer_id": "c", "country": "Germany", "metadata.channel": "seo"},
    ]
    workspace = make_workspace(lines, customers=customers)
    workspace.create_axis("channel", source="metadata.channel")
    workspace.add_rule("channel", "map", "seo", "SEO")
    return workspace


def test_filter_on_customer_axis(ws):
    (row,) = _month(ws, "2024-02", filter="channel = 'SEO'")
    # SEO customers: a 10 and c 40.
    assert row["mrr_end"] == 50
    assert row["customers_end"] == 2


def test_filter_and_or_precedence(ws):
    (row,) = _month(
        ws, "2024-02", filter="country = FR and channel = SEO or country = DE"
    )
    # (FR and SEO) or DE: a 10 + c 40; b (FR, Ads) is left out.
    assert row["mrr_end"] == 50
    (row,) = _month(
        ws, "2024-02", filter="country = FR and (channel = SEO or country = DE)"
    )
    # FR and (SEO or DE): only a.
    assert row["mrr_end"] == 10


def test_filter_plan_switch_is_transfer(ws):
    (row,) = _month(ws, "2024-03", filter="plan = 'pro'")
    # a leaves basic (10) for pro (30) on 1 March: inside the "pro" filter that
    # is transfer_in 10 and expansion 20, not new; c stays at 40.
    assert row["transfer_in"] == 10
    assert row["expansion"] == 20
    assert row["new"] == 0
    assert row["mrr_start"] == 40
    assert row["mrr_end"] == 70


def test_filter_with_by(ws):
    frame = ws.mrr(
        by="plan", start="2024-02", end="2024-02", as_of=AS_OF, filter="country = 'FR'"
    )
    rows = {r["plan"]: r["mrr_end"] for r in frame.to_dict(orient="records")}
    # FR customers in February: a basic 10, b basic 20; c is German.
    assert rows == {"basic": 30}


def test_filter_not_and_null(ws):
    (row,) = _month(ws, "2024-02", filter="not channel = 'SEO'")
    assert row["mrr_end"] == 20
    assert _month(ws, "2024-02", filter="channel is null") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chanel = 'SEO'", "chanel"),
        ("channel = 'Seo Ads'", "Seo Ads"),
        ("channel = ", "column 10: expected a value"),
    ],
    ids=["unknown-axis", "unknown-value", "syntax"],
)
def test_filter_errors(ws, text, message):
    with pytest.raises(revaxis.InputError, match=message):
        ws.mrr(as_of=AS_OF, filter=text)


def test_filter_value_with_sql_is_a_value(ws):
    with pytest.raises(revaxis.InputError, match="DROP TABLE"):
        ws.mrr(as_of=AS_OF, filter="channel = 'x''; DROP TABLE customers; --'")
    assert ws.counts()["customers"] == 3


def test_cli_filter(ws):
    result = CliRunner().invoke(
        app,
        [
            "--db",
            str(ws.path),
            "mrr",
            "--from",
            "2024-02",
            "--to",
            "2024-02",
            "--filter",
            "channel = SEO",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    # February, SEO customers only: 10 + 40.
    assert result.stdout.splitlines()[1].startswith("2024-02,50.0,")
