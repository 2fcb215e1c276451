"""The `revaxis` command line, run on real workspace files."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from revaxis.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "demo.duckdb"
    result = runner.invoke(
        app, ["--db", str(path), "demo", "--customers", "150", "--months", "18"]
    )
    assert result.exit_code == 0, result.output
    return path


def _bridge_gap(frame: pd.DataFrame) -> float:
    expected = (
        frame.mrr_start
        + frame.new
        + frame.reactivation
        + frame.expansion
        - frame.contraction
        - frame.churn
        + frame.transfer_in
        - frame.transfer_out
        + frame.fx
    )
    return float((frame.mrr_end - expected).abs().max())


def test_mrr_by_plan_csv_balances(demo_db):
    result = runner.invoke(
        app, ["--db", str(demo_db), "mrr", "--by", "plan", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns[:3]) == ["period", "plan", "mrr_start"]
    assert _bridge_gap(frame) < 0.005
    # Transfers between plans sum to zero in every month.
    per_month = frame.groupby("period")[["transfer_in", "transfer_out"]].sum()
    assert (per_month.transfer_in - per_month.transfer_out).abs().max() < 0.005


def test_mrr_json_by_quarter(demo_db):
    result = runner.invoke(
        app,
        ["--db", str(demo_db), "mrr", "--interval", "quarter", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert all("-Q" in row["period"] for row in rows)
    # Each quarter starts where the previous one ended.
    for before, after in zip(rows, rows[1:], strict=False):
        assert after["mrr_start"] == before["mrr_end"]


def test_mrr_table_shows_every_column(demo_db):
    result = runner.invoke(app, ["--db", str(demo_db), "mrr", "--by", "country"])
    assert result.exit_code == 0, result.output
    for column in ["period", "country", "mrr_start", "reactivated_customers"]:
        assert column in result.stdout


def test_axes_list_prints_native_axes(demo_db):
    result = runner.invoke(
        app, ["--db", str(demo_db), "axes", "list", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame["key"].tolist() == [
        "product",
        "plan",
        "interval",
        "currency",
        "country",
        "region",
        "subregion",
        "cohort_month",
        "cohort_quarter",
        "cohort_year",
        "churn_reason",
    ]
    assert frame.set_index("key").loc["currency", "mrr_coverage"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mrr", "--by", "planet"], "Unknown axis 'planet'"),
        (["mrr", "--from", "March"], "Invalid period 'March'"),
        (["mrr", "--currency", "EURO"], "Unknown currency 'EURO'"),
        (["settings", "set", "grace_days", "abc"], "write a whole number"),
    ],
    ids=["axis", "period", "currency", "setting"],
)
def test_bad_option_is_a_clear_error(demo_db, args, message):
    result = runner.invoke(app, ["--db", str(demo_db), *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_every_option_has_help():
    command = get_command(app)
    missing = []

    def walk(cmd, path: str) -> None:
        for param in cmd.params:
            # Options have help; positional arguments are checked the same way.
            if not getattr(param, "help", None):
                missing.append(f"{path} {param.name}")
        for name, sub in getattr(cmd, "commands", {}).items():
            if not sub.help:
                missing.append(f"{path} {name}")
            walk(sub, f"{path} {name}")

    walk(command, "revaxis")
    assert missing == []


def test_console_script_runs(demo_db):
    # The installed entry point, as a user runs it.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "revaxis",
            "--db",
            str(demo_db),
            "mrr",
            "--format",
            "csv",
            "--from",
            "2026-01",
            "--to",
            "2026-02",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("period,mrr_start,new,")


def test_report_on_missing_workspace_creates_nothing(tmp_path):
    path = tmp_path / "absent" / "ws.duckdb"
    result = runner.invoke(app, ["--db", str(path), "mrr"])
    assert result.exit_code == 2
    assert "not found" in result.stderr
    assert not path.parent.exists()


def test_report_on_empty_workspace_is_an_error(tmp_path):
    path = tmp_path / "ws.duckdb"
    setup = runner.invoke(
        app, ["--db", str(path), "settings", "set", "currency", "EUR"]
    )
    assert setup.exit_code == 0, setup.output
    result = runner.invoke(app, ["--db", str(path), "mrr"])
    assert result.exit_code == 2
    assert "has no invoice lines" in result.stderr


def test_as_of_leaves_out_later_changes(demo_db):
    args = ["--db", str(demo_db), "mrr", "--format", "csv", "--from", "2026-01"]
    early = runner.invoke(app, [*args, "--as-of", "2026-03-15"])
    assert early.exit_code == 0, early.output
    # The default range ends at the report day's period.
    assert early.stdout.splitlines()[-1].startswith("2026-03,")
    bad = runner.invoke(app, [*args, "--as-of", "15/03/2026"])
    assert bad.exit_code == 2
    assert "write a day as YYYY-MM-DD" in bad.stderr


def test_mrr_xlsx_round_trip(web_workspace, tmp_path):
    # tests/webapp.py: Jan c1 100 + c2 50 = 150; Feb + c3 50 = 200; Mar + c4
    # 100 = 300; Apr c2 churns 50 while c3 expands 50, so 300 until June.
    target = tmp_path / "mrr.xlsx"
    result = runner.invoke(
        app,
        [
            "--db",
            str(web_workspace),
            "mrr",
            "--as-of",
            "2025-06-30",
            "--format",
            "xlsx",
            "--output",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_excel(target, sheet_name="mrr")
    assert list(frame["period"]) == [f"2025-0{m}" for m in range(1, 7)]
    assert list(frame["mrr_end"]) == [150, 200, 300, 300, 300, 300]
    assert list(frame["churn"]) == [0, 0, 0, 50, 0, 0]
    assert list(frame["expansion"]) == [0, 0, 0, 50, 0, 0]


def test_mrr_xlsx_needs_output(web_workspace):
    result = runner.invoke(app, ["--db", str(web_workspace), "mrr", "--format", "xlsx"])
    assert result.exit_code == 2
    assert "give its path with --output" in result.output


def _csv(args: list[str]) -> pd.DataFrame:
    result = runner.invoke(app, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout))


def test_kpis_as_of_ends_at_report_day(web_workspace):
    # On 31 March 2025 c1 100, c2 50, c3 50 and c4 100 pay: 300 from 4
    # customers; the April lines start after the report day.
    frame = _csv(["--db", str(web_workspace), "kpis", "--as-of", "2025-03-31"])
    assert list(frame["period"]) == ["2025-01", "2025-02", "2025-03"]
    assert list(frame["mrr"]) == [150, 200, 300]
    assert list(frame["customers"]) == [2, 3, 4]


def test_cohorts_as_of_ends_at_report_day(web_workspace):
    # On 31 January 2025 only c1 (100) and c2 (50) have been acquired.
    frame = _csv(["--db", str(web_workspace), "cohorts", "--as-of", "2025-01-31"])
    assert list(frame["cohort"]) == ["2025-01"]
    assert list(frame["customers"]) == [2]
    assert list(frame["mrr_initial"]) == [150]


def test_lifetimes_as_of_ends_at_report_day(web_workspace):
    # On 30 April 2025: c2 churned on 1 April after 90 days (90 / 30.4375 =
    # 2.957 months). c3 (89 days) and c4 (60 days) are censored before that,
    # so 2 are at risk at 2.957 months (c1, c2) and survival falls to 1/2
    # there: the median.
    frame = _csv(["--db", str(web_workspace), "lifetimes", "--as-of", "2025-04-30"])
    assert list(frame["customers"]) == [4]
    assert list(frame["churned"]) == [1]
    assert frame["median_months"].iloc[0] == pytest.approx(90 / 30.4375)
