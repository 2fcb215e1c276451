"""Chargebee connector: sync against a fake Chargebee API over HTTPS on
127.0.0.1 (tests/chargebee_server.py), and MRR checked against the `mrr` that
Chargebee computed in the payloads of tests/fixtures/chargebee.

The site `acme` of `build_site` uses Product Catalog 1.0, with amounts in USD
(Chargebee's in cents). Every term is [start, end), so a term from the 1st to
the 1st is one month:

- Alice (DE, cf_channel seo): Basic 50/month, active from 1 Jan. Invoices for
  Jan, Feb, Mar and a voided duplicate of Mar; Apr and May with 2 seats of the
  Seats addon at 10 (+20); a pending June invoice, which is skipped.
- Nora (FR, partner): Basic, non_renewing: term [15 Apr, 15 May), cancellation
  scheduled for its end. Invoices [15 Mar, 15 Apr) paid and [15 Apr, 15 May)
  posted (open).
- Paul (US, seo): Basic, paused on 10 Apr in the term [1 Apr, 1 May).
  Invoices Mar paid and Apr payment_due (open).
- Tina (GB, no channel): Basic, in_trial from 20 May to 3 Jun, with a trial
  invoice of 0.
- Carl (CA, paid): Basic from 15 Jan, cancelled on 1 Mar ("Too expensive").
  Invoices [15 Jan, 15 Feb) and [15 Feb, 15 Mar), the second refunded in full
  by a credit note.
- Dana (AU, paid): Pro annual 1,200 from 10 Feb with a discount of 200 and a
  tax of 100, and a setup fee of 100 (plan_setup, one-time).

MRR at each month end, with the reasons:

| month | Alice | Nora | Paul | Tina | Carl | Dana | total |
| --- | --- | --- | --- | --- | --- | --- | --- |
| Jan | 50 | | | | 50 | | 100 |
| Feb | 50 | | | | 50 | 83.33 | 183.33 |
| Mar | 50 | 50 | 50 | | 0 (ended 1 Mar) | 83.33 | 233.33 |
| Apr | 70 | 50 | 0 (paused 10 Apr) | | | 83.33 | 203.33 |
| May | 70 | 0 (term ended 15 May) | | 0 (trial) | | 83.33 | 153.33 |

Dana: (1,200 - 200) / 12 months = 83.333; tax and the setup fee are no MRR.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chargebee.main
import pandas as pd
import pytest
from tests.chargebee_server import (
    GOOD_KEY,
    Failure,
    FakeChargebee,
    addon,
    certificate,
    credit_note,
    customer,
    fixture_site,
    invoice,
    line,
    plan,
    serve,
    subscription,
    ts,
)
from typer.testing import CliRunner

import revaxis
from revaxis._chargebee_sync import (
    ChargebeeSyncError,
    read_sync_state,
    sync_chargebee,
)
from revaxis._errors import InputError
from revaxis.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "chargebee"
AS_OF = dt.date(2024, 5, 31)
PRO_YEAR = ("plan", "pro-annual")
SEATS = ("addon", "seats")


def monthly(
    iid: str, cus: str, sub: str, start: str, end: str, **kw: Any
) -> dict[str, Any]:
    """A paid invoice of one Basic line (50) for [start, end)."""
    status = kw.pop("status", "paid")
    item = line(f"li_{iid[4:]}", kw.pop("cents", 5000), start, end, sub, **kw)
    return invoice(iid, cus, start, [item], status=status, subscription_id=sub)


def build_site(state: FakeChargebee) -> None:
    state.add(
        "customers",
        customer("cus_alice", "Alice", "Weber", "2024-01-01", country="DE",
                 channel="seo"),
        customer("cus_nora", "Nora", "Petit", "2024-03-15", country="FR",
                 channel="partner"),
        customer("cus_paul", "Paul", "Stone", "2024-03-01", country="US",
                 channel="seo"),
        customer("cus_tina", "Tina", "Hughes", "2024-05-20", country="GB"),
        customer("cus_carl", "Carl", "Roy", "2024-01-15", country="CA",
                 channel="paid"),
        customer("cus_dana", "Dana", "Lee", "2024-02-10", country="AU",
                 channel="paid"),
    )  # fmt: skip
    state.add(
        "plans",
        plan("basic", "Basic", 5000),
        plan("pro-annual", "Pro annual", 120000, unit="year"),
    )
    state.add(
        "addons",
        addon("seats", "Seats", 1000, recurring=True),
        addon("setup", "Onboarding", 10000, recurring=False),
    )
    state.add(
        "subscriptions",
        subscription("sub_alice", "cus_alice", "basic", "2024-01-01",
                     ("2024-05-01", "2024-06-01")),
        subscription("sub_nora", "cus_nora", "basic", "2024-03-15",
                     ("2024-04-15", "2024-05-15"), status="non_renewing",
                     cancelled_at="2024-05-15",
                     cancel_reason_code="Switched to competitor"),
        subscription("sub_paul", "cus_paul", "basic", "2024-03-01",
                     ("2024-04-01", "2024-05-01"), status="paused",
                     pause_date="2024-04-10"),
        subscription("sub_tina", "cus_tina", "basic", "2024-05-20",
                     ("2024-05-20", "2024-06-03"), status="in_trial",
                     trial_start="2024-05-20", trial_end="2024-06-03"),
        subscription("sub_carl", "cus_carl", "basic", "2024-01-15",
                     ("2024-02-15", "2024-03-15"), status="cancelled",
                     cancelled_at="2024-03-01", cancel_reason_code="Too expensive"),
        subscription("sub_dana", "cus_dana", "pro-annual", "2024-02-10",
                     ("2024-02-10", "2025-02-10")),
    )  # fmt: skip
    seats = line("li_a4seats", 2000, "2024-04-01", "2024-05-01", "sub_alice",
                 entity=SEATS, quantity=2)  # fmt: skip
    april = monthly("inv_a4", "cus_alice", "sub_alice", "2024-04-01", "2024-05-01")
    april["line_items"].append(seats)
    may = monthly("inv_a5", "cus_alice", "sub_alice", "2024-05-01", "2024-06-01")
    may_seats = dict(seats, id="li_a5seats", date_from=ts("2024-05-01"),
                     date_to=ts("2024-06-01"))  # fmt: skip
    may["line_items"].append(may_seats)
    dana_lines = [
        line("li_d1", 120000, "2024-02-10", "2025-02-10", "sub_dana",
             entity=PRO_YEAR, discount=20000, tax=10000),
        line("li_d1setup", 10000, "2024-02-10", "2024-02-10", "sub_dana",
             entity=("plan_setup", "pro-annual")),
    ]  # fmt: skip
    state.add(
        "invoices",
        monthly("inv_a1", "cus_alice", "sub_alice", "2024-01-01", "2024-02-01"),
        monthly("inv_a2", "cus_alice", "sub_alice", "2024-02-01", "2024-03-01"),
        monthly("inv_a3", "cus_alice", "sub_alice", "2024-03-01", "2024-04-01"),
        monthly("inv_a3v", "cus_alice", "sub_alice", "2024-03-01", "2024-04-01",
                status="voided"),
        april,
        may,
        monthly("inv_a6", "cus_alice", "sub_alice", "2024-06-01", "2024-07-01",
                status="pending"),
        monthly("inv_n1", "cus_nora", "sub_nora", "2024-03-15", "2024-04-15"),
        monthly("inv_n2", "cus_nora", "sub_nora", "2024-04-15", "2024-05-15",
                status="posted"),
        monthly("inv_p1", "cus_paul", "sub_paul", "2024-03-01", "2024-04-01"),
        monthly("inv_p2", "cus_paul", "sub_paul", "2024-04-01", "2024-05-01",
                status="payment_due"),
        monthly("inv_t1", "cus_tina", "sub_tina", "2024-05-20", "2024-06-03",
                cents=0),
        monthly("inv_c1", "cus_carl", "sub_carl", "2024-01-15", "2024-02-15"),
        monthly("inv_c2", "cus_carl", "sub_carl", "2024-02-15", "2024-03-15"),
        invoice("inv_d1", "cus_dana", "2024-02-10", dana_lines,
                subscription_id="sub_dana"),
    )  # fmt: skip
    refund = line("li_cn_c2", 5000, "2024-02-15", "2024-03-15", "sub_carl")
    state.add("credit_notes", credit_note("cn_c2", "inv_c2", [refund]))


# Lines stored from build_site: Alice 1 + 1 + 1 + 1 (voided) + 2 + 2 (the
# pending invoice is skipped), Nora 2, Paul 2, Tina 1, Carl 2, Dana 2.
LINES = 17


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pair = certificate(tmp_path_factory.mktemp("tls"))
    if pair is None:
        pytest.skip("the openssl command is needed for the fake HTTPS server")
    return pair


@pytest.fixture
def trust_cert(
    tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """Make the chargebee package trust the fake server's certificate. It
    verifies servers against its own CA file, the class attribute
    `Chargebee.ca_cert_path`, and has no per-client option for it."""
    monkeypatch.setattr(chargebee.main.Chargebee, "ca_cert_path", str(tls_cert[0]))
    return tls_cert


@pytest.fixture
def site(trust_cert: tuple[Path, Path]) -> Iterator[FakeChargebee]:
    state = FakeChargebee()
    build_site(state)
    with serve(state, trust_cert):
        yield state


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[revaxis.Workspace]:
    with revaxis.Workspace(tmp_path / "ws.duckdb") as workspace:
        yield workspace


def run_sync(ws: revaxis.Workspace, api: FakeChargebee, **kw: Any) -> Any:
    delays = kw.pop("delays", [])
    return sync_chargebee(
        ws,
        kw.pop("key", GOOD_KEY),
        site=kw.pop("site", "acme"),
        api_base=api.base_url,
        sleep=delays.append,
        **kw,
    )


def month_end(ws: revaxis.Workspace, month: str, **kw: Any) -> pd.Series:
    frame = ws.mrr(start=month, end=month, as_of=kw.pop("as_of", AS_OF), **kw)
    return frame.iloc[0]


def customer_mrr(ws: revaxis.Workspace, month: str) -> dict[str, float]:
    frame = ws.customer_mrr(start=month, end=month, as_of=AS_OF)
    return dict(zip(frame.customer_id, frame.mrr, strict=True))


def lines_by_id(ws: revaxis.Workspace) -> pd.DataFrame:
    return ws.table("invoice_lines").execute().set_index("line_id")


# Conversion ---------------------------------------------------------------------


def test_sync_converts_site(ws: revaxis.Workspace, site: FakeChargebee) -> None:
    run_sync(ws, site)
    customers = ws.table("customers").execute().set_index("customer_id")
    subs = ws.table("subscriptions").execute().set_index("subscription_id")
    plans = ws.table("plans").execute().set_index("plan_id")
    lines = lines_by_id(ws)
    assert ws.counts()["invoice_lines"] == LINES
    assert customers.loc["acme:cus_alice", "name"] == "Alice Weber"
    assert customers.loc["acme:cus_alice", "country"] == "DE"
    assert plans.loc["acme:plan:pro-annual", "interval_unit"] == "year"
    assert plans.loc["acme:addon:seats", "interval_unit"] == "month"
    # The one-off addon has no billing period, so it is a product but no plan.
    assert "acme:addon:setup" not in plans.index
    assert subs.loc["acme:sub_carl", "cancellation_reason"] == "Too expensive"
    assert subs.loc["acme:sub_carl", "ended_at"] == pd.Timestamp("2024-03-01")
    assert subs.loc["acme:sub_paul", "ended_at"] == pd.Timestamp("2024-04-10")
    assert pd.isna(subs.loc["acme:sub_nora", "ended_at"])
    assert lines.loc["li_a4seats", "plan_id"] == "acme:addon:seats"
    assert lines.loc["li_a4seats", "quantity"] == 2.0
    assert lines.loc["li_a3v", "status"] == "void"
    assert lines.loc["li_n2", "status"] == "open"
    assert lines.loc["li_c2", "status"] == "refunded"
    assert lines.loc["li_d1", "discount"] == 200.0
    assert lines.loc["li_d1", "tax"] == 100.0
    assert lines.loc["li_d1setup", "kind"] == "one_time"
    assert pd.isna(lines.loc["li_d1setup", "service_period_start"])
    assert "li_a6" not in lines.index


def test_sync_mrr_by_month(ws: revaxis.Workspace, site: FakeChargebee) -> None:
    run_sync(ws, site)
    mrr = ws.mrr(start="2024-01", end="2024-05", as_of=AS_OF).set_index("period")
    # The totals of the table in the module docstring.
    assert mrr.loc["2024-01", "mrr_end"] == 100.0
    assert mrr.loc["2024-02", "mrr_end"] == 183.33
    assert mrr.loc["2024-03", "mrr_end"] == 233.33
    assert mrr.loc["2024-04", "mrr_end"] == 203.33
    assert mrr.loc["2024-05", "mrr_end"] == 153.33
    # Mar: Carl 50 churns on 1 Mar. Apr: Paul 50 on 10 Apr. May: Nora 50.
    assert mrr.loc["2024-03", "churn"] == 50.0
    assert mrr.loc["2024-04", "churn"] == 50.0
    assert mrr.loc["2024-05", "churn"] == 50.0
    # Apr: Alice's 2 seats at 10 from 1 Apr.
    assert mrr.loc["2024-04", "expansion"] == 20.0
    # May: Alice and Dana pay; Tina's trial line of 0 does not count.
    assert mrr.loc["2024-05", "customers_end"] == 2


def test_non_renewing_counts_until_term_end(
    ws: revaxis.Workspace, site: FakeChargebee
) -> None:
    run_sync(ws, site)
    assert customer_mrr(ws, "2024-04")["acme:cus_nora"] == 50.0
    assert "acme:cus_nora" not in customer_mrr(ws, "2024-05")
    moves = ws.movements(as_of=AS_OF)
    nora = moves[moves.customer_id == "acme:cus_nora"].set_index("date")
    # The last term [15 Apr, 15 May) ends MRR on 15 May, its scheduled end.
    assert nora.loc[dt.date(2024, 5, 15), "churn"] == 50.0


def test_paused_counts_zero(ws: revaxis.Workspace, site: FakeChargebee) -> None:
    run_sync(ws, site)
    assert customer_mrr(ws, "2024-03")["acme:cus_paul"] == 50.0
    assert "acme:cus_paul" not in customer_mrr(ws, "2024-04")
    moves = ws.movements(as_of=AS_OF)
    paul = moves[moves.customer_id == "acme:cus_paul"].set_index("date")
    # The April invoice covers [1 Apr, 1 May), but the pause on 10 Apr ends it.
    assert paul.loc[dt.date(2024, 4, 10), "churn"] == 50.0


def test_trial_counts_zero(ws: revaxis.Workspace, site: FakeChargebee) -> None:
    run_sync(ws, site)
    may = customer_mrr(ws, "2024-05")
    assert "acme:cus_tina" not in may
    assert lines_by_id(ws).loc["li_t1", "amount"] == 0.0


# Custom fields and axes -----------------------------------------------------------


def test_custom_field_is_axis_candidate(
    ws: revaxis.Workspace, site: FakeChargebee, tmp_path: Path
) -> None:
    run_sync(ws, site)
    candidates = ws.metadata_candidates().set_index("source")
    # cf_channel on 5 customers (Tina has none), values seo, partner, paid.
    assert candidates.loc["metadata.cf_channel", "level"] == "customer"
    assert candidates.loc["metadata.cf_channel", "entities"] == 5
    assert candidates.loc["metadata.cf_channel", "values"] == 3
    ws.create_axis("channel", source="metadata.cf_channel")
    assert ws.metadata_candidates().empty


def test_axes_list_cli_shows_candidates(tmp_path: Path, site: FakeChargebee) -> None:
    db = tmp_path / "cli.duckdb"
    with revaxis.Workspace(db) as workspace:
        run_sync(workspace, site)
    result = CliRunner().invoke(app, ["--db", str(db), "axes", "list"])
    assert result.exit_code == 0, result.output
    assert "Metadata keys without an axis" in result.output
    assert "metadata.cf_channel" in result.output


def test_custom_field_axis_follows_sync(
    ws: revaxis.Workspace, site: FakeChargebee
) -> None:
    run_sync(ws, site)
    ws.create_axis("channel", source="metadata.cf_channel")
    before = ws.mrr(by="channel", start="2024-04", end="2024-04", as_of=AS_OF)
    mrr = before.set_index("channel")["mrr_end"]
    # Apr: seo = Alice 70 (Paul paused); partner = Nora 50; paid = Dana 83.33.
    assert mrr["seo"] == 70.0
    assert mrr["partner"] == 50.0
    assert mrr["paid"] == 83.33
    # Alice moves to the partner channel; the next sync reads her again.
    alice = site.resources["customers"][0]
    alice.update(cf_channel="partner", updated_at=int(time.time()))
    report = run_sync(ws, site)
    # Only her metadata value changed: one row of the metadata table.
    assert report.rows_changed["customers"] == 0
    assert report.rows_changed["metadata"] == 1
    after = ws.mrr(by="channel", start="2024-04", end="2024-04", as_of=AS_OF)
    mrr = after.set_index("channel")["mrr_end"]
    # partner = Alice 70 + Nora 50 = 120; seo keeps only Paul, who pays 0.
    assert mrr["partner"] == 120.0
    assert mrr.get("seo", 0.0) == 0.0


# Pagination, retries and errors -------------------------------------------------


def test_sync_reads_every_page(ws: revaxis.Workspace, site: FakeChargebee) -> None:
    site.max_page = 2
    run_sync(ws, site)
    requests = site.listed("/api/v2/customers")
    # 6 customers in pages of 2: offsets none, 2 and 4.
    assert len(requests) == 3
    assert requests[0][1]["limit"] == ["100"]
    assert "offset" not in requests[0][1]
    assert requests[1][1]["offset"] == ["2"]
    assert requests[2][1]["offset"] == ["4"]
    # 15 invoices in pages of 2: 8 requests.
    assert len(site.listed("/api/v2/invoices")) == 8
    assert ws.counts()["invoice_lines"] == LINES


def test_sync_completes_invoice_lines(
    ws: revaxis.Workspace, site: FakeChargebee
) -> None:
    site.max_line_items = 1
    run_sync(ws, site)
    # Invoices of 2 lines (inv_a4, inv_a5, inv_d1) list 1; the other is read
    # from the invoice's retrieve endpoint.
    assert len(site.listed("/api/v2/invoices/inv_a4")) == 1
    assert ws.counts()["invoice_lines"] == LINES


def test_sync_retries_after_429(ws: revaxis.Workspace, site: FakeChargebee) -> None:
    site.failures.append(Failure("/api/v2/addons", 429, {"Retry-After": "2"}))
    delays: list[float] = []
    run_sync(ws, site, delays=delays)
    assert delays == [2.0]
    assert len(site.listed("/api/v2/addons")) == 2
    assert ws.counts()["plans"] == 3


def test_sync_retries_after_500(ws: revaxis.Workspace, site: FakeChargebee) -> None:
    site.failures.append(Failure("/api/v2/invoices", 500))
    delays: list[float] = []
    run_sync(ws, site, delays=delays)
    # No Retry-After header: the first backoff is 0.5 s.
    assert delays == [0.5]
    assert ws.counts()["invoice_lines"] == LINES


def test_sync_retries_after_plain_503(
    ws: revaxis.Workspace, site: FakeChargebee
) -> None:
    site.failures.append(Failure("/api/v2/customers", 503, plain=True))
    delays: list[float] = []
    run_sync(ws, site, delays=delays)
    assert delays == [0.5]
    assert ws.counts()["customers"] == 6


def test_sync_gives_up_after_retries(
    ws: revaxis.Workspace, site: FakeChargebee
) -> None:
    site.failures.extend(Failure("/api/v2/plans", 503) for _ in range(6))
    with pytest.raises(ChargebeeSyncError, match="plans failed after 5 retries"):
        run_sync(ws, site)
    assert ws.counts()["customers"] == 0


def test_sync_bad_key_names_env_var(
    ws: revaxis.Workspace, site: FakeChargebee, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InputError, match="CHARGEBEE_API_KEY environment variable"):
        run_sync(ws, site, key="wrong_secret_key_42")
    assert "wrong_secret_key_42" not in caplog.text


def test_sync_rejects_http_api_base(ws: revaxis.Workspace) -> None:
    with pytest.raises(InputError, match="write an https:// URL"):
        sync_chargebee(ws, GOOD_KEY, site="acme", api_base="http://127.0.0.1:9")


def test_sync_rejects_bad_site_name(ws: revaxis.Workspace) -> None:
    with pytest.raises(InputError, match="Invalid Chargebee site name"):
        sync_chargebee(ws, GOOD_KEY, site="acme.chargebee.com")


def test_sync_cli_bad_key(
    tmp_path: Path, site: FakeChargebee, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARGEBEE_API_KEY", "wrong_secret_key_42")
    result = CliRunner().invoke(
        app,
        ["--db", str(tmp_path / "x.duckdb"), "sync", "chargebee", "--site", "acme",
         "--api-base", site.base_url],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "CHARGEBEE_API_KEY" in result.output
    assert "wrong_secret_key_42" not in result.output


def test_sync_cli_key_file(tmp_path: Path, site: FakeChargebee) -> None:
    key_file = tmp_path / "chargebee.key"
    key_file.write_text(GOOD_KEY + "\n")
    result = CliRunner().invoke(
        app,
        ["--db", str(tmp_path / "x.duckdb"), "sync", "chargebee", "--site", "acme",
         "--api-base", site.base_url, "--key-file", str(key_file)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "chargebee site acme" in result.output


# Incremental sync ---------------------------------------------------------------


def test_sync_twice_then_new_invoice(
    ws: revaxis.Workspace, site: FakeChargebee
) -> None:
    first = run_sync(ws, site)
    assert first.rows_changed["invoice_lines"] == LINES
    second = run_sync(ws, site)
    # The second sync lists only what changed since the first one started.
    assert "updated_at[after]" in site.listed("/api/v2/invoices")[-1][1]
    assert sum(second.rows_changed.values()) == 0
    # A full read of everything changed since 1 Jan finds the same rows.
    full = run_sync(ws, site, since=dt.date(2024, 1, 1))
    assert sum(full.rows_changed.values()) == 0
    june = monthly("inv_a7", "cus_alice", "sub_alice", "2024-06-01", "2024-07-01")
    june["updated_at"] = int(time.time())
    site.add("invoices", june)
    third = run_sync(ws, site)
    assert third.rows_changed["invoice_lines"] == 1
    assert sum(third.rows_changed.values()) == 1
    assert "acme" in read_sync_state(ws)


def test_deleted_invoice_becomes_void(
    ws: revaxis.Workspace, site: FakeChargebee
) -> None:
    run_sync(ws, site)
    paul_april = next(i for i in site.resources["invoices"] if i["id"] == "inv_p2")
    paul_april.update(deleted=True, updated_at=int(time.time()))
    run_sync(ws, site)
    assert lines_by_id(ws).loc["li_p2", "status"] == "void"


# Several sites and Product Catalog 2.0 -------------------------------------------


def catalog_2_site(state: FakeChargebee) -> None:
    """Site `beta` on Product Catalog 2.0: Ann pays the item price
    pro-USD-monthly of the item Pro, 100 a month from 1 Apr."""
    state.catalog = 2
    state.add("customers", customer("cus_alice", "Ann", "Berg", "2024-04-01",
                                    country="SE", channel="seo"))  # fmt: skip
    state.add("items", {"id": "pro", "name": "Pro", "type": "plan",
                        "updated_at": ts("2024-04-01")})  # fmt: skip
    state.add("item_prices", {"id": "pro-USD-monthly", "item_id": "pro",
                              "name": "Pro USD monthly", "item_type": "plan",
                              "period": 1, "period_unit": "month", "price": 10000,
                              "updated_at": ts("2024-04-01")})  # fmt: skip
    sub = subscription("sub_ann", "cus_alice", "", "2024-04-01",
                       ("2024-05-01", "2024-06-01"))  # fmt: skip
    del sub["plan_id"]
    sub["subscription_items"] = [
        {"item_price_id": "pro-USD-monthly", "item_type": "plan", "quantity": 1}
    ]
    state.add("subscriptions", sub)
    item = line("li_b1", 10000, "2024-05-01", "2024-06-01", "sub_ann",
                entity=("plan_item_price", "pro-USD-monthly"))  # fmt: skip
    state.add("invoices", invoice("inv_b1", "cus_alice", "2024-05-01", [item],
                                  subscription_id="sub_ann"))  # fmt: skip


def test_two_sites_share_workspace(
    ws: revaxis.Workspace, site: FakeChargebee, trust_cert: tuple[Path, Path]
) -> None:
    run_sync(ws, site)
    beta = FakeChargebee()
    catalog_2_site(beta)
    with serve(beta, trust_cert):
        run_sync(ws, beta, site="beta")
    customers = ws.table("customers").execute().set_index("customer_id")
    lines = lines_by_id(ws)
    subs = ws.table("subscriptions").execute().set_index("subscription_id")
    # The same Chargebee id on two sites gives two customers.
    assert customers.loc["acme:cus_alice", "name"] == "Alice Weber"
    assert customers.loc["beta:cus_alice", "name"] == "Ann Berg"
    assert lines.loc["li_b1", "plan_id"] == "beta:item_price:pro-USD-monthly"
    assert lines.loc["li_b1", "product_id"] == "beta:item:pro"
    assert subs.loc["beta:sub_ann", "plan_id"] == "beta:item_price:pro-USD-monthly"
    # The 2.0 site has no plans or addons lists; the 1.0 site no items.
    assert len(beta.listed("/api/v2/plans")) == 1
    # May: acme 153.33 (module docstring) + beta Ann 100.
    assert month_end(ws, "2024-05")["mrr_end"] == 253.33
    assert set(read_sync_state(ws)) == {"acme", "beta"}


# Chargebee's own mrr ------------------------------------------------------------

# Payloads whose `mrr` (cents) agrees with their own line items: (file, month,
# our MRR at that month's end). The MRR of a line is its amount over its period
# in months; the periods start and end on the same day of the month.
AGREEING = [
    # no_trial 10.00 + data_usage 0.95 over [1 Apr 2013, 1 May 2013); the
    # invoice is payment_due, and open invoices count. mrr 1095.
    ("payment_failed.json", "2013-04", 10.95),
    # contract-plan 6 x 500.00 = 3,000 over [11 Dec 2020, 11 Dec 2021), 12
    # months: 250.00. The plan_setup line of 1,500 is one-time. mrr 25000.
    ("payment_succeeded.json", "2020-12", 250.0),
    # basic 9.00 + data_usage 0.95 over [1 Mar 2013, 1 Apr 2013). mrr 995.
    ("subscription_reactivated.json", "2013-03", 9.95),
]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def fixture_mrr(
    ws: revaxis.Workspace, name: str, month: str, cert: tuple[Path, Path]
) -> float:
    """Sync the resources of one payload as site `fx`; return the MRR at the end
    of `month`."""
    with serve(fixture_site(fixture(name)), cert) as api:
        run_sync(ws, api, site="fx")
    year, number = map(int, month.split("-"))
    as_of = pd.Timestamp(year=year, month=number, day=1) + pd.offsets.MonthEnd()
    return float(month_end(ws, month, as_of=as_of.date())["mrr_end"])


@pytest.mark.parametrize(
    ("name", "month", "expected"), AGREEING, ids=[a[0] for a in AGREEING]
)
def test_mrr_equals_chargebee_mrr(
    ws: revaxis.Workspace,
    trust_cert: tuple[Path, Path],
    name: str,
    month: str,
    expected: float,
) -> None:
    content = fixture(name)["content"]
    assert content["subscription"]["mrr"] / 100 == expected
    assert fixture_mrr(ws, name, month, trust_cert) == expected


def test_activated_event_contradicts_itself(
    ws: revaxis.Workspace, trust_cert: tuple[Path, Path]
) -> None:
    """subscription_activated.json: the subscription is `active` and its invoice
    1, paid, bills basic 9.00 + data_usage 0.95 for its current term [7 Aug,
    7 Sep 2012), yet its `mrr` is 0. An active subscription with a paid
    invoice for its current term has a non-zero MRR, so the payload's `mrr`
    contradicts its own line items, and ours follows the line items."""
    content = fixture("subscription_activated.json")["content"]
    assert content["subscription"]["status"] == "active"
    assert content["subscription"]["mrr"] == 0
    assert fixture_mrr(ws, "subscription_activated.json", "2012-08", trust_cert) == 9.95


def test_refunded_event_contradicts_itself(
    ws: revaxis.Workspace, trust_cert: tuple[Path, Path]
) -> None:
    """payment_refunded.json: the `mrr` 995 matches its invoice 1 (basic 9.00
    + data_usage 0.95 over [7 Aug, 7 Sep 2012)), but not its own subscription,
    which bills no_trial at 10.00 + data_usage 0.95 = 10.95 for the current term
    [1 Mar, 1 Apr 2013). The `mrr` is that of the plan before the change to
    no_trial, as in subscription_reactivated.json for the same term. The
    payload has no invoice for the current term, so our MRR there is 0; for
    August 2012 it is the invoice's 9.95. The credit note of 0.02 is partial,
    so the line stays paid."""
    content = fixture("payment_refunded.json")["content"]
    sub = content["subscription"]
    billed = sub["plan_unit_price"] + sum(a["unit_price"] for a in sub["addons"])
    assert billed == 1095
    assert sub["mrr"] == 995
    assert fixture_mrr(ws, "payment_refunded.json", "2012-08", trust_cert) == 9.95
    assert month_end(ws, "2013-03", as_of=dt.date(2013, 3, 31))["mrr_end"] == 0.0
    assert set(lines_by_id(ws).status) == {"paid"}


@pytest.mark.parametrize(
    "name",
    ["subscription_create_response.json", "subscription_reactivate_response.json"],
)
def test_test_site_responses_carry_zero_mrr(
    ws: revaxis.Workspace, trust_cert: tuple[Path, Path], name: str
) -> None:
    """The API responses of the test site (`__test__` ids) carry `mrr` 0 on an
    active subscription whose invoice bills no_trial at 8.95 for the current
    month, [1 Feb, 1 Mar 2018). These two contradict their line items too. Ours
    counts the payment_due invoice, as open invoices count."""
    sub = fixture(name)["subscription"]
    assert sub["status"] == "active"
    assert sub["mrr"] == 0
    assert fixture_mrr(ws, name, "2018-02", trust_cert) == 8.95


def test_sync_sends_only_to_local_server(site: FakeChargebee) -> None:
    assert site.base_url.startswith("https://127.0.0.1:")
