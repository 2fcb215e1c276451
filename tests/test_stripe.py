"""Stripe connector: conversion, stripe-json import and sync against a fake
Stripe API on 127.0.0.1 (tests/stripe_server.py).

The account of `build_account` (amounts in USD, Stripe's in cents):

- cus_A Alice (DE, channel seo): Basic 50/month from 1 Jan, Pro 100 from
  16 Mar. Invoices: Jan-Mar 50; on 16 Mar prorations of -25.81 and +51.61
  for [16 Mar, 1 Apr); Apr 100; a one-time setup of 250 in Jan.
- cus_B Bob (US from the shipping address, paid): Standard 30, trialing
  20 Apr-4 May, one trial line of 0.
- cus_C Carol (FR, seo): Basic with a 100 % coupon from 1 Feb; Feb-Apr 50
  less a discount of 50.
- cus_D Dan (GB, paid): Pro annual 1,200 from 10 Feb, plus 240 tax.
- cus_E (deleted): Basic from 1 Jan, canceled on 1 Mar (too_expensive);
  Jan and Feb 50.
- cus_F Frank (CA, seo): Basic from 15 Jan, canceled on 20 Mar at the period
  end (15 Apr); 15 Jan, 15 Feb and 15 Mar 50.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.stripe_server import (
    GOOD_KEY,
    Failure,
    FakeStripe,
    customer,
    invoice,
    line,
    price,
    product,
    serve,
    subscription,
)
from typer.testing import CliRunner

import revaxis
from revaxis._errors import InputError
from revaxis._stripe_convert import read_stripe_json, stripe_objects_to_tables
from revaxis._stripe_sync import StripeSyncError, read_sync_state, sync_stripe
from revaxis.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"
AS_OF = dt.date(2024, 4, 30)

BASIC = price("price_basic_m", "prod_basic", 5000, nickname="Basic monthly")
PRO = price("price_pro_m", "prod_pro", 10000, nickname="Pro monthly")
STANDARD = price("price_std_m", "prod_std", 3000, nickname="Standard monthly")
PRO_YEAR = price(
    "price_pro_y", "prod_pro", 120000, interval="year", nickname="Pro annual"
)
SETUP = price("price_setup", "prod_setup", 25000, interval=None)


def monthly(
    iid: str, cus: str, sub: str, start: str, end: str, plan: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """A paid invoice with one line of `plan` for [start, end)."""
    cents = kw.pop("cents", plan["unit_amount"])
    item = line(
        f"il_{iid[3:]}", cents, start, end, price_obj=plan, subscription_id=sub, **kw
    )
    return invoice(iid, cus, start, [item])


def build_account(state: FakeStripe) -> None:
    state.add(
        "customers",
        customer("cus_A", "Alice Weber", "2024-01-01", country="DE", channel="seo"),
        customer("cus_B", "Bob Stone", "2024-04-20", shipping_country="US",
                 channel="paid"),
        customer("cus_C", "Carol Petit", "2024-02-01", country="FR", channel="seo"),
        customer("cus_D", "Dan Hughes", "2024-02-10", country="GB", channel="paid"),
        customer("cus_E", "Eve", "2024-01-01", deleted=True),
        customer("cus_F", "Frank Roy", "2024-01-15", country="CA", channel="seo"),
    )  # fmt: skip
    state.add(
        "products",
        product("prod_basic", "Basic"),
        product("prod_pro", "Pro"),
        product("prod_std", "Standard"),
        product("prod_setup", "Onboarding"),
    )
    state.add("prices", BASIC, PRO, STANDARD, PRO_YEAR, SETUP)
    state.add(
        "subscriptions",
        subscription("sub_A", "cus_A", PRO, "2024-01-01"),
        subscription("sub_B", "cus_B", STANDARD, "2024-04-20", status="trialing",
                     trial=("2024-04-20", "2024-05-04")),
        subscription("sub_C", "cus_C", BASIC, "2024-02-01"),
        subscription("sub_D", "cus_D", PRO_YEAR, "2024-02-10"),
        subscription("sub_E", "cus_E", BASIC, "2024-01-01", status="canceled",
                     canceled_at="2024-03-01", ended_at="2024-03-01",
                     feedback="too_expensive"),
        subscription("sub_F", "cus_F", BASIC, "2024-01-15", status="canceled",
                     canceled_at="2024-03-20", ended_at="2024-04-15",
                     feedback="missing_features"),
    )  # fmt: skip
    setup = line("il_A1setup", 25000, "2024-01-01", "2024-01-01",
                 price_obj=SETUP, subscription_id=None)  # fmt: skip
    first = monthly("in_A1", "cus_A", "sub_A", "2024-01-01", "2024-02-01", BASIC)
    first["lines"]["all"].append(setup)
    # Stripe prorates by the 16 of 31 days left in March:
    # -5000 x 16 / 31 = -2581 and 10000 x 16 / 31 = 5161 cents.
    upgrade = invoice(
        "in_A4",
        "cus_A",
        "2024-03-16",
        [
            line("il_A4unused", -2581, "2024-03-16", "2024-04-01", price_obj=BASIC,
                 subscription_id="sub_A", proration=True,
                 description="Unused time on Basic after 16 Mar 2024"),
            line("il_A4pro", 5161, "2024-03-16", "2024-04-01", price_obj=PRO,
                 subscription_id="sub_A", proration=True,
                 description="Remaining time on Pro after 16 Mar 2024"),
        ],
    )  # fmt: skip
    state.add(
        "invoices",
        first,
        monthly("in_A2", "cus_A", "sub_A", "2024-02-01", "2024-03-01", BASIC),
        monthly("in_A3", "cus_A", "sub_A", "2024-03-01", "2024-04-01", BASIC),
        upgrade,
        monthly("in_A5", "cus_A", "sub_A", "2024-04-01", "2024-05-01", PRO),
        monthly("in_B1", "cus_B", "sub_B", "2024-04-20", "2024-05-04", STANDARD,
                cents=0),
        monthly("in_C1", "cus_C", "sub_C", "2024-02-01", "2024-03-01", BASIC,
                discount_cents=5000),
        monthly("in_C2", "cus_C", "sub_C", "2024-03-01", "2024-04-01", BASIC,
                discount_cents=5000),
        monthly("in_C3", "cus_C", "sub_C", "2024-04-01", "2024-05-01", BASIC,
                discount_cents=5000),
        monthly("in_D1", "cus_D", "sub_D", "2024-02-10", "2025-02-10", PRO_YEAR,
                tax_cents=24000),
        monthly("in_E1", "cus_E", "sub_E", "2024-01-01", "2024-02-01", BASIC),
        monthly("in_E2", "cus_E", "sub_E", "2024-02-01", "2024-03-01", BASIC),
        monthly("in_F1", "cus_F", "sub_F", "2024-01-15", "2024-02-15", BASIC),
        monthly("in_F2", "cus_F", "sub_F", "2024-02-15", "2024-03-15", BASIC),
        monthly("in_F3", "cus_F", "sub_F", "2024-03-15", "2024-04-15", BASIC),
    )  # fmt: skip


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    state = FakeStripe()
    build_account(state)
    with serve(state):
        yield state


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[revaxis.Workspace]:
    with revaxis.Workspace(tmp_path / "ws.duckdb") as workspace:
        yield workspace


def run_sync(ws: revaxis.Workspace, api: FakeStripe, **kw: Any) -> Any:
    delays = kw.pop("delays", [])
    return sync_stripe(
        ws, kw.pop("key", GOOD_KEY), api_base=api.base_url, sleep=delays.append, **kw
    )


def lines_by_id(ws: revaxis.Workspace) -> pd.DataFrame:
    return ws.table("invoice_lines").execute().set_index("line_id")


# Conversion -------------------------------------------------------------------


def test_convert_prefixes_ids_per_account() -> None:
    objects = {"customers": [customer("cus_A", "Alice", "2024-01-01")]}
    eu = stripe_objects_to_tables(objects, "eu")
    us = stripe_objects_to_tables(objects, "us")
    assert eu["customers"].customer_id.tolist() == ["eu:cus_A"]
    assert us["customers"].customer_id.tolist() == ["us:cus_A"]


def test_convert_rejects_unknown_object_list() -> None:
    with pytest.raises(InputError, match="Unknown Stripe object list"):
        stripe_objects_to_tables({"charges": []}, "stripe")


def test_convert_zero_decimal_currency() -> None:
    yen = invoice(
        "in_J",
        "cus_J",
        "2024-01-01",
        [line("il_J", 4900, "2024-01-01", "2024-02-01", price_obj=None,
              subscription_id="sub_J")],
    )  # fmt: skip
    yen["currency"] = "jpy"
    yen["lines"] = {"data": yen["lines"]["all"]}
    yen["lines"]["data"][0]["currency"] = "jpy"
    lines = stripe_objects_to_tables({"invoices": [yen]}, "s")["invoice_lines"]
    assert lines.currency.tolist() == ["JPY"]
    assert lines.amount.tolist() == [4900.0]


def test_convert_skips_draft_invoice() -> None:
    draft = invoice("in_X", "cus_X", "2024-01-01", [], status="draft")
    item = line(
        "il_X", 100, "2024-01-01", "2024-02-01", price_obj=BASIC, subscription_id="s"
    )
    draft["lines"] = {"data": [item]}
    tables = stripe_objects_to_tables({"invoices": [draft]}, "s")
    assert "invoice_lines" not in tables


def test_convert_full_credit_note_marks_refunded() -> None:
    paid = invoice("in_R", "cus_R", "2024-01-01", [])
    item = line(
        "il_R", 5000, "2024-01-01", "2024-02-01", price_obj=BASIC, subscription_id="s"
    )
    paid["lines"] = {"data": [item]}
    note = {
        "id": "cn_R",
        "object": "credit_note",
        "status": "issued",
        "invoice": "in_R",
        "lines": {
            "data": [{"type": "invoice_line_item", "invoice_line_item": "il_R",
                      "amount": 5000}]
        },
    }  # fmt: skip
    tables = stripe_objects_to_tables({"invoices": [paid], "credit_notes": [note]}, "s")
    assert tables["invoice_lines"].status.tolist() == ["refunded"]


# Import of a stripe-json file -------------------------------------------------


def test_import_stripe_json_fixture(ws: revaxis.Workspace) -> None:
    report = ws.import_path(FIXTURES / "export.json", format="stripe-json")
    again = ws.import_path(FIXTURES / "export.json", format="stripe-json")
    customers = ws.table("customers").execute().set_index("customer_id")
    lines = lines_by_id(ws)
    assert report.rows_changed["invoice_lines"] == 2
    assert sum(again.rows_changed.values()) == 0
    assert customers.loc["stripe:cus_A", "country"] == "DE"
    assert "stripe:cus_E" in customers.index
    assert lines.loc["il_A1", "amount"] == 50.0
    assert lines.loc["il_A1", "customer_id"] == "stripe:cus_A"


def test_import_stripe_json_cli(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(
        app,
        ["--db", str(db), "import", str(FIXTURES / "export.json"),
         "--format", "stripe-json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "export.json" in result.output


def test_import_stripe_json_invalid(ws: revaxis.Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"object": "list", "data": [}')
    with pytest.raises(InputError, match="bad.json:1: invalid JSON"):
        ws.import_path(bad, format="stripe-json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00\x9c", "junk.json: invalid JSON, byte 0 is not UTF-8 text"),
        (b"[" * 100_000, "junk.json: invalid JSON, its arrays or objects are nested"),
    ],
    ids=["not-utf8", "too-deep"],
)
def test_read_stripe_json_unreadable(tmp_path, content, message):
    path = tmp_path / "junk.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_stripe_json(path)


# Sync ---------------------------------------------------------------------------


def test_sync_reads_every_page(ws: revaxis.Workspace, stripe_api: FakeStripe) -> None:
    stripe_api.max_page = 2
    run_sync(ws, stripe_api)
    customers_requests = stripe_api.listed("/v1/customers")
    # 5 listed customers (the deleted one is never listed) in pages of 2.
    assert len(customers_requests) == 3
    assert customers_requests[0][1]["limit"] == ["100"]
    assert "starting_after" in customers_requests[1][1]
    assert ws.counts()["invoice_lines"] == 17


def test_sync_converts_account(ws: revaxis.Workspace, stripe_api: FakeStripe) -> None:
    run_sync(ws, stripe_api)
    customers = ws.table("customers").execute().set_index("customer_id")
    subs = ws.table("subscriptions").execute().set_index("subscription_id")
    lines = lines_by_id(ws)
    assert customers.loc["stripe:cus_B", "country"] == "US"
    assert customers.loc["stripe:cus_E", "name"] is None
    assert subs.loc["stripe:sub_E", "cancellation_reason"] == "too_expensive"
    assert subs.loc["stripe:sub_F", "ended_at"] == pd.Timestamp("2024-04-15")
    assert pd.isna(subs.loc["stripe:sub_A", "ended_at"])
    assert lines.loc["il_A1setup", "kind"] == "one_time"
    assert lines.loc["il_A4unused", "amount"] == -25.81
    assert lines.loc["il_D1", "tax"] == 240.0
    assert lines.loc["il_C1", "discount"] == 50.0


def test_sync_mrr_by_month(ws: revaxis.Workspace, stripe_api: FakeStripe) -> None:
    run_sync(ws, stripe_api)
    mrr = ws.mrr(start="2024-01", end="2024-04", as_of=AS_OF).set_index("period")
    # Jan: A 50 + E 50 + F 50. Feb: + D 1200 / 12 = 100; C pays 0 (100 % coupon).
    assert mrr.loc["2024-01", "mrr_end"] == 150.0
    assert mrr.loc["2024-02", "mrr_end"] == 250.0
    # Mar: E churns on 1 Mar (ended_at), A upgrades on 16 Mar. Apr: F churns on
    # 15 Apr, at the end of its paid period; B's trial line of 0 adds nothing.
    assert mrr.loc["2024-03", "churn"] == 50.0
    assert mrr.loc["2024-04", "churn"] == 50.0
    assert mrr.loc["2024-04", "mrr_end"] == 200.0
    assert mrr.loc["2024-04", "customers_end"] == 2


def test_sync_upgrade_is_one_expansion(
    ws: revaxis.Workspace, stripe_api: FakeStripe
) -> None:
    run_sync(ws, stripe_api)
    moves = ws.movements(as_of=AS_OF)
    alice = moves[moves.customer_id == "stripe:cus_A"].set_index("date")
    # The prorations cover [16 Mar, 1 Apr): 16 days, which the engine counts
    # as 16 / 30.4375 = 0.52567 month. Their MRR is (51.61 - 25.81) / 0.52567
    # = 49.08, so MRR is 50 + 49.08 = 99.08 from 16 Mar. Stripe prorated by
    # 16 / 31 of a month, so the full 100 arrives with the April invoice:
    # 0.92 more on 1 Apr. 49.08 + 0.92 = 50 = Pro 100 - Basic 50.
    march = alice.loc[dt.date(2024, 3, 16)]
    assert march["expansion"] == 49.08
    assert alice.loc[dt.date(2024, 4, 1), "expansion"] == 0.92
    assert (alice[["churn", "contraction", "reactivation"]] == 0).all().all()
    after = ws.customer_mrr(start="2024-04", end="2024-04", as_of=AS_OF)
    assert after.set_index("customer_id").loc["stripe:cus_A", "mrr"] == 100.0


def test_sync_metadata_axis(ws: revaxis.Workspace, stripe_api: FakeStripe) -> None:
    run_sync(ws, stripe_api)
    ws.create_axis("channel", source="metadata.channel")
    by_channel = ws.mrr(by="channel", start="2024-04", end="2024-04", as_of=AS_OF)
    mrr = by_channel.set_index("channel")["mrr_end"]
    # Apr: seo = A 100 (C pays 0, F churned); paid = D 100 (B is in trial).
    assert mrr["seo"] == 100.0
    assert mrr["paid"] == 100.0


def test_sync_retries_after_429(ws: revaxis.Workspace, stripe_api: FakeStripe) -> None:
    stripe_api.failures.append(Failure("/v1/products", 429, {"Retry-After": "2"}))
    delays: list[float] = []
    run_sync(ws, stripe_api, delays=delays)
    assert delays == [2.0]
    assert len(stripe_api.listed("/v1/products")) == 2
    assert ws.counts()["products"] == 4


def test_sync_retries_after_500(ws: revaxis.Workspace, stripe_api: FakeStripe) -> None:
    stripe_api.failures.append(Failure("/v1/invoices", 500))
    delays: list[float] = []
    run_sync(ws, stripe_api, delays=delays)
    # No Retry-After header: the first backoff is 0.5 s.
    assert delays == [0.5]
    assert ws.counts()["invoice_lines"] == 17


def test_sync_gives_up_after_retries(
    ws: revaxis.Workspace, stripe_api: FakeStripe
) -> None:
    stripe_api.failures.extend(Failure("/v1/prices", 503) for _ in range(6))
    with pytest.raises(StripeSyncError, match="prices failed after 5 retries"):
        run_sync(ws, stripe_api)
    assert ws.counts()["customers"] == 0


def test_sync_bad_key_names_env_var(
    ws: revaxis.Workspace, stripe_api: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InputError, match="STRIPE_API_KEY environment variable"):
        run_sync(ws, stripe_api, key="sk_test_wrong_secret")
    assert "sk_test_wrong_secret" not in caplog.text


def test_sync_cli_bad_key(
    tmp_path: Path, stripe_api: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_wrong_secret")
    result = CliRunner().invoke(
        app,
        ["--db", str(tmp_path / "x.duckdb"), "sync", "stripe",
         "--api-base", stripe_api.base_url],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "STRIPE_API_KEY" in result.output
    assert "sk_test_wrong_secret" not in result.output


def test_sync_cli_key_file(tmp_path: Path, stripe_api: FakeStripe) -> None:
    key_file = tmp_path / "stripe.key"
    key_file.write_text(GOOD_KEY + "\n")
    result = CliRunner().invoke(
        app,
        ["--db", str(tmp_path / "x.duckdb"), "sync", "stripe", "--api-base",
         stripe_api.base_url, "--key-file", str(key_file), "--account", "eu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "stripe account eu" in result.output


def test_sync_twice_then_new_invoice(
    ws: revaxis.Workspace, stripe_api: FakeStripe
) -> None:
    run_sync(ws, stripe_api)
    first_state = read_sync_state(ws)["stripe"]
    second = run_sync(ws, stripe_api)
    # The second sync lists only objects created since the first one started.
    assert stripe_api.listed("/v1/invoices")[-1][1]["created[gte]"]
    assert sum(second.rows_changed.values()) == 0
    full = run_sync(ws, stripe_api, since=dt.date(2024, 1, 1))
    assert sum(full.rows_changed.values()) == 0
    stripe_api.add(
        "invoices",
        invoice("in_A6", "cus_A", int(time.time()), [
            line("il_A6", 10000, "2024-05-01", "2024-06-01", price_obj=PRO,
                 subscription_id="sub_A")]),
    )  # fmt: skip
    third = run_sync(ws, stripe_api)
    assert third.rows_changed["invoice_lines"] == 1
    assert sum(third.rows_changed.values()) == 1
    assert read_sync_state(ws)["stripe"] >= first_state


def test_sync_reads_changed_objects_from_events(
    ws: revaxis.Workspace, stripe_api: FakeStripe
) -> None:
    run_sync(ws, stripe_api)
    # A January invoice is marked uncollectible now: only an event shows it.
    changed = dict(stripe_api.objects["invoices"][1])
    changed["status"] = "uncollectible"
    stripe_api.add(
        "events",
        {"id": "evt_1", "object": "event", "type": "invoice.marked_uncollectible",
         "created": int(time.time()),
         "data": {"object": {**changed, "lines": {
             "object": "list", "data": changed["lines"]["all"], "has_more": False}}}},
    )  # fmt: skip
    report = run_sync(ws, stripe_api)
    assert report.rows_changed["invoice_lines"] == 1
    assert lines_by_id(ws).loc["il_A2", "status"] == "uncollectible"


def test_sync_sends_only_to_local_server(stripe_api: FakeStripe) -> None:
    assert stripe_api.base_url.startswith("http://127.0.0.1:")


def test_fixture_is_stripe_cli_shape() -> None:
    document = json.loads((FIXTURES / "export.json").read_text())
    assert document["customers"]["object"] == "list"
