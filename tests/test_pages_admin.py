"""The admin pages (customers, axes, data, settings) through a TestClient on the
workspace of tests/webapp.py, whose numbers are known by hand: on 30 June 2025
c1, c3 and c4 pay 100 each and c2 has churned (50 until 1 April)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.webapp import AS_OF, login

from revaxis.web import _i18n

WEB = Path(__file__).resolve().parents[1] / "src" / "revaxis" / "web"
DAY = AS_OF.isoformat()

CUSTOMERS_CSV = (
    "customer_id,name,country,metadata.channel,metadata.segment\n"
    "c5,Echo Ltd,GB,Referral,SMB\n"
)
LINES_CSV = (
    "invoice_id,line_id,customer_id,currency,amount,"
    "service_period_start,service_period_end,plan_id\n"
    "c5-1,1,c5,USD,100,2025-05-01,2025-06-01,pro\n"
    "c5-2,1,c5,USD,100,2025-06-01,2025-07-01,pro\n"
)
BAD_LINES_CSV = (
    "invoice_id,line_id,customer_id,currency,amount,"
    "service_period_start,service_period_end\n"
    "c5-1,1,c5,USD,100,2025-13-01,2025-06-01\n"
    "c5-2,1,c5,EURO,100,2025-06-01,2025-07-01\n"
)


def _client_as(client: TestClient, email: str) -> str:
    """Log `client` in as `email` and return the CSRF token; redirects are then
    returned as they are, so tests see a form's 303."""
    token = login(client, email)
    client.follow_redirects = False
    return token


@pytest.fixture
def viewer(web_client):
    _client_as(web_client, "viewer@example.com")
    return web_client


@pytest.fixture
def editor(web_client):
    web_client.csrf = _client_as(web_client, "editor@example.com")
    return web_client


@pytest.fixture
def admin(web_client):
    web_client.csrf = _client_as(web_client, "admin@example.com")
    return web_client


def _ws(client: TestClient):
    return client.app.state.workspace


def _rows(html: str, attribute: str) -> list[str]:
    """Return the values of `data-<attribute>` of the table rows, in order."""
    return re.findall(rf'<tr[^>]* data-{attribute}="([^"]+)"', html)


def _row(html: str, attribute: str, value: str) -> str:
    """Return the HTML of the table row whose data-<attribute> is `value`."""
    found = re.search(
        rf'<tr[^>]* data-{attribute}="{re.escape(value)}".*?</tr>', html, re.S
    )
    assert found, f"no row with data-{attribute}={value!r}"
    return found.group(0)


def _table(html: str, table_id: str) -> str:
    """Return the HTML of the table with id `table_id`."""
    found = re.search(rf'<table[^>]* id="{table_id}".*?</table>', html, re.S)
    assert found, f"no table with id {table_id!r}"
    return found.group(0)


def _text(html: str) -> str:
    """Return the page's text with tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# Customers --------------------------------------------------------------------


def test_customers_sorted_by_mrr(viewer):
    response = viewer.get(f"/customers?as_of={DAY}")
    assert response.status_code == 200
    assert _rows(response.text, "customer") == ["c1", "c3", "c4", "c2"]
    first = _text(_row(response.text, "customer", "c1"))
    assert "Acme Corp" in first
    assert "$100" in first
    assert "active" in first
    churned = _text(_row(response.text, "customer", "c2"))
    assert "$0" in churned
    assert "churned" in churned
    assert "Jan 1, 2025" in churned
    assert "4 customer(s), sorted by MRR" in response.text


def test_customers_live_search_fragment(viewer):
    response = viewer.get(
        f"/customers?q=cobalt&as_of={DAY}",
        headers={"HX-Request": "true", "HX-Target": "customer-results"},
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<div id="customer-results">')
    assert _rows(response.text, "customer") == ["c3"]


def test_customers_search_without_match(viewer):
    response = viewer.get("/customers?q=nobody")
    assert "No customer matches." in response.text
    assert _rows(response.text, "customer") == []


def test_customers_export_csv(viewer):
    response = viewer.get(f"/customers?as_of={DAY}&format=csv")
    assert response.status_code == 200
    frame = pd.read_csv(io.StringIO(response.text))
    assert frame["customer_id"].tolist() == ["c1", "c3", "c4", "c2"]
    assert frame["mrr"].tolist() == [100.0, 100.0, 100.0, 0.0]
    assert frame["status"].tolist() == ["active", "active", "active", "churned"]


def test_customer_page_shows_history(viewer):
    response = viewer.get(f"/customers/c3?as_of={DAY}")
    assert response.status_code == 200
    html = response.text
    assert 'id="customer-mrr">$100<' in html
    history = _text(_table(html, "history-table"))
    assert history.split() == (
        "2025-02 2025-03 2025-04 2025-05 2025-06 $50 $50 $100 $100 $100".split()
    )
    assert 'data-png-for="customer-mrr-chart"' in html
    assert 'id="customer-mrr-chart-figure"' in html
    movements = _text(_table(html, "movements-table"))
    assert "Feb 1, 2025 $50" in movements
    assert "Apr 1, 2025 $50" in movements
    channel = _text(_row(html, "axis", "channel"))
    assert "seo" in channel
    assert "Western Europe" in _text(_row(html, "axis", "subregion"))


def test_customer_exports(viewer):
    history = viewer.get(f"/customers/c3/history?as_of={DAY}&format=csv")
    assert pd.read_csv(io.StringIO(history.text))["mrr"].tolist() == [
        50.0,
        50.0,
        100.0,
        100.0,
        100.0,
    ]
    movements = viewer.get(f"/customers/c3/movements?as_of={DAY}&format=csv")
    frame = pd.read_csv(io.StringIO(movements.text))
    assert frame["new"].tolist() == [50.0, 0.0]
    assert frame["expansion"].tolist() == [0.0, 50.0]
    attributes = viewer.get(f"/customers/c3/attributes?as_of={DAY}&format=xlsx")
    assert attributes.status_code == 200
    assert attributes.content[:2] == b"PK"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=99999999999999999999", "Invalid value for page"),
        ("q=%00", "Invalid search &#39;\\x00&#39;: it contains a NUL character"),
        ("as_of=9999-12-31", "Invalid report day 9999-12-31"),
    ],
    ids=["page", "q", "as_of"],
)
def test_customers_invalid_query(viewer, query, message):
    response = viewer.get(f"/customers?{query}")
    assert response.status_code == 400
    assert message in response.text


def test_customer_id_with_nul_is_404(viewer):
    response = viewer.get("/customers/c1%00")
    assert response.status_code == 404
    assert "Customer &#39;c1\\x00&#39; not found" in response.text


def test_unknown_customer_is_404(viewer):
    response = viewer.get("/customers/nobody")
    assert response.status_code == 404
    assert "Customer &#39;nobody&#39; not found" in response.text


def test_editor_edits_attribute(editor):
    response = editor.post(
        f"/customers/c3/attributes/channel?as_of={DAY}",
        data={"csrf_token": editor.csrf, "value": "Partner"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<tr id="attribute-channel"')
    assert "Partner" in _text(response.text)
    assert "saved" in response.text
    values = _ws(editor).con.table("axis_values").execute()
    assert values[["axis_key", "entity_id", "value"]].values.tolist() == [
        ["channel", "c3", "Partner"]
    ]


def test_editor_sets_dated_attribute(editor):
    response = editor.post(
        f"/customers/c1/attributes/channel?as_of={DAY}",
        data={"csrf_token": editor.csrf, "value": "Events", "valid_from": "2025-03-01"},
    )
    assert response.status_code == 303
    page = editor.get(f"/customers/c1?as_of={DAY}").text
    row = _text(_row(page, "axis", "channel"))
    assert "Events" in row
    assert "from Mar 1, 2025" in row


def test_attribute_error_is_shown_in_row(editor):
    response = editor.post(
        "/customers/c3/attributes/channel",
        data={"csrf_token": editor.csrf, "value": "X", "valid_from": "2025-31-01"},
        headers={"HX-Request": "true"},
    )
    # htmx swaps only 2xx responses, so the row comes back with its error.
    assert response.status_code == 200
    assert 'role="alert"' in response.text
    assert "invalid date" in response.text


def test_native_attribute_not_editable(editor):
    page = editor.get(f"/customers/c3?as_of={DAY}").text
    assert "attribute-form" in _row(page, "axis", "channel")
    assert "attribute-form" not in _row(page, "axis", "country")
    response = editor.post(
        "/customers/c3/attributes/country",
        data={"csrf_token": editor.csrf, "value": "FR"},
    )
    assert response.status_code == 400


# Axes -------------------------------------------------------------------------


def test_axes_page_lists_axes(viewer):
    response = viewer.get("/axes")
    assert response.status_code == 200
    keys = _rows(response.text, "axis")
    assert keys[:2] == ["product", "plan"]
    assert keys[-1] == "channel"
    assert "metadata.channel" in _row(response.text, "axis", "channel")
    assert 'hx-get="/axes/coverage"' in response.text
    assert "Every metadata key of the billing data already has an axis." in (
        response.text
    )


def test_axes_coverage(viewer):
    response = viewer.get("/axes/coverage")
    assert response.status_code == 200
    channel = _text(_row(response.text, "axis", "channel")).split()
    # Values SEO, seo and Ads; everyone paying in June has a channel.
    assert channel[-3:] == ["3", "100.0%", "100.0%"]
    churn = _text(_row(response.text, "axis", "churn_reason")).split()
    assert churn[-3:] == ["0", "0.0%", "0.0%"]
    frame = pd.read_csv(io.StringIO(viewer.get("/axes/coverage?format=csv").text))
    row = frame.set_index("key").loc["channel"]
    assert row["values"] == 3
    assert row["mrr_coverage"] == 1.0


def test_axis_page_preview(viewer):
    response = viewer.get("/axes/channel")
    assert response.status_code == 200
    preview = response.text
    assert _rows(preview, "raw") == ["Ads", "SEO", "seo"]
    assert "No rule yet" in preview
    assert "2 raw label(s) not reviewed" not in preview
    assert "3 raw label(s) not reviewed" in preview
    # SEO and seo are suggested for merging, shown without a button to viewers.
    assert "<code>seo</code>" in _row(preview, "raw", "SEO")


def test_live_preview_changes_with_draft(viewer):
    before = viewer.get("/axes/channel/preview?kind=map&pattern=se&label=SEO")
    assert "moved" not in _row(before.text, "raw", "seo")
    assert "0 raw label(s) move" in before.text
    after = viewer.get("/axes/channel/preview?kind=map&pattern=seo&label=SEO")
    row = _row(after.text, "raw", "seo")
    assert 'class="moved"' in row
    assert "<s>seo</s> → <strong>SEO</strong>" in row
    text = _text(after.text)
    assert "1 raw label(s) move: 1 customer(s) and $100 of MRR" in text
    assert "<html" not in after.text
    # Nothing is saved by a preview.
    assert _ws(viewer).rules("channel").empty


def test_preview_rejects_invalid_regex(viewer):
    response = viewer.get("/axes/channel/preview?kind=regex&pattern=(&label=X")
    assert response.status_code == 200
    assert "Invalid regular expression" in response.text
    assert _rows(response.text, "raw") == ["Ads", "SEO", "seo"]


def test_preview_export_with_draft(viewer):
    response = viewer.get(
        "/axes/channel/preview?kind=map&pattern=seo&label=SEO&format=csv"
    )
    frame = pd.read_csv(io.StringIO(response.text)).set_index("raw_label")
    assert frame.loc["seo", "label"] == "SEO"
    assert frame.loc["seo", "saved_label"] == "seo"
    assert frame.loc["seo", "rule"] == 1


def test_editor_adds_and_removes_rule(editor):
    response = editor.post(
        "/axes/channel/rules",
        data={
            "csrf_token": editor.csrf,
            "kind": "map",
            "pattern": "seo",
            "label": "SEO",
        },
    )
    assert response.status_code == 303
    assert _ws(editor).rules("channel")[
        ["kind", "pattern", "label"]
    ].values.tolist() == [["map", "seo", "SEO"]]
    page = editor.get("/axes/channel").text
    assert "Rule added: seo → SEO." in page
    row = _text(_row(page, "raw", "seo"))
    assert "SEO" in row
    assert "yes" in row
    rules = pd.read_csv(io.StringIO(editor.get("/axes/channel/rules").text))
    assert rules["position"].tolist() == [1]
    removed = editor.post(
        "/axes/channel/rules/1/delete", data={"csrf_token": editor.csrf}
    )
    assert removed.status_code == 303
    assert _ws(editor).rules("channel").empty


def test_invalid_rule_keeps_the_form(editor):
    response = editor.post(
        "/axes/channel/rules",
        data={"csrf_token": editor.csrf, "kind": "regex", "pattern": "(", "label": "X"},
    )
    assert response.status_code == 400
    assert "Invalid regular expression" in response.text
    assert 'name="pattern" value="("' in response.text
    assert _ws(editor).rules("channel").empty


def test_editor_creates_manual_axis(editor):
    response = editor.post(
        "/axes",
        data={
            "csrf_token": editor.csrf,
            "key": "manager",
            "label": "Account manager",
            "level": "customer",
            "value_type": "category",
            "source": "manual",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/axes/manager"
    axis = _ws(editor).axes_registry()["manager"]
    assert axis.label == "Account manager"
    assert axis.source == "manual"
    assert "Axis manager created." in editor.get("/axes/manager").text


def test_invalid_axis_keeps_the_form(editor):
    response = editor.post(
        "/axes",
        data={"csrf_token": editor.csrf, "key": "Bad Key", "label": "Typed"},
    )
    assert response.status_code == 400
    assert "Invalid axis key" in response.text
    assert 'value="Typed"' in response.text


def test_axis_grouping_with_buckets_error(editor):
    response = editor.post(
        "/axes",
        data={
            "csrf_token": editor.csrf,
            "key": "size",
            "parent": "channel",
            "buckets": "0,ten",
        },
    )
    assert response.status_code == 400
    assert "Invalid buckets" in response.text


def test_delete_then_create_from_metadata_key(editor):
    deleted = editor.post("/axes/channel/delete", data={"csrf_token": editor.csrf})
    assert deleted.status_code == 303
    assert "channel" not in _ws(editor).axes_registry()
    page = editor.get("/axes").text
    assert "Axis channel deleted." in page
    candidates = re.search(r'id="candidates".*?</section>', page, re.S).group(0)
    assert "<code>metadata.channel</code>" in candidates
    assert "Create axis channel" in candidates
    created = editor.post(
        "/axes",
        data={
            "csrf_token": editor.csrf,
            "key": "channel",
            "label": "channel",
            "level": "customer",
            "source": "metadata.channel",
        },
    )
    assert created.status_code == 303
    assert _ws(editor).axes_registry()["channel"].source == "metadata.channel"


def test_native_axis_cannot_be_deleted(editor):
    response = editor.post("/axes/plan/delete", data={"csrf_token": editor.csrf})
    assert response.status_code == 400
    assert "native" in response.text
    assert "plan" in _ws(editor).axes_registry()


def test_editor_uploads_axis_values(editor):
    editor.post(
        "/axes",
        data={"csrf_token": editor.csrf, "key": "manager", "source": "manual"},
    )
    body = "id,value,valid_from\nc1,Alice,\nc2,Bob,\nc1,Carol,2025-04-01\n"
    response = editor.post(
        "/axes/manager/values",
        data={"csrf_token": editor.csrf},
        files={"file": ("managers.csv", body, "text/csv")},
    )
    assert response.status_code == 303
    page = editor.get("/axes/manager").text
    assert "3 value(s) imported from managers.csv." in page
    values = pd.read_csv(io.StringIO(editor.get("/axes/manager/values").text))
    assert values["id"].tolist() == ["c1", "c1", "c2"]
    assert values["value"].tolist() == ["Alice", "Carol", "Bob"]
    customer = editor.get(f"/customers/c1?as_of={DAY}").text
    assert "Carol" in _text(_row(customer, "axis", "manager"))


def test_rejected_axis_values_change_nothing(editor):
    editor.post(
        "/axes",
        data={"csrf_token": editor.csrf, "key": "manager", "source": "manual"},
    )
    body = "id,value,valid_from\nc1,Alice,\nc9,Bob,\nc2,Eve,2025-02-30\n"
    response = editor.post(
        "/axes/manager/values",
        data={"csrf_token": editor.csrf},
        files={"file": ("managers.csv", body, "text/csv")},
    )
    assert response.status_code == 400
    problems = re.search(
        r'<table class="data problems">.*?</table>', response.text, re.S
    )
    text = _text(problems.group(0))
    assert "managers.csv 3 id c9 unknown customer id" in text
    assert "managers.csv 4 valid_from 2025-02-30 invalid date" in text
    assert "Nothing was changed." in response.text
    assert _ws(editor).con.table("axis_values").count().execute() == 0


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("v.csv", b"", "the file is empty"),
        ("v.xlsx", b"junk", "not a valid Excel workbook"),
    ],
    ids=["empty-csv", "junk-xlsx"],
)
def test_unreadable_axis_values_file(editor, name, content, reason):
    editor.post(
        "/axes",
        data={"csrf_token": editor.csrf, "key": "manager", "source": "manual"},
    )
    response = editor.post(
        "/axes/manager/values",
        data={"csrf_token": editor.csrf},
        files={"file": (name, content, "application/octet-stream")},
    )
    assert response.status_code == 400
    assert f"{name} was rejected: 1 problem(s)" in response.text
    problems = re.search(
        r'<table class="data problems">.*?</table>', response.text, re.S
    )
    assert reason in _text(problems.group(0))


# Data -------------------------------------------------------------------------


def _upload(client: TestClient, files: list[tuple[str, str]], **form: str):
    return client.post(
        "/data/import",
        data={"csrf_token": client.csrf, **form},
        files=[("files", (name, body, "text/csv")) for name, body in files],
    )


def test_data_page_for_viewer(viewer):
    response = viewer.get("/data")
    assert response.status_code == 200
    assert "import-form" not in response.text
    log = _text(_table(response.text, "log-table"))
    assert "webapp-test" in log
    assert "25" in log.split()
    counts = _text(_table(response.text, "counts-table"))
    assert "customers 4" in counts
    assert "invoice_lines 18" in counts


def test_editor_imports_canonical_files(editor):
    response = _upload(
        editor, [("customers.csv", CUSTOMERS_CSV), ("invoice_lines.csv", LINES_CSV)]
    )
    assert response.status_code == 303
    report_url = response.headers["location"]
    page = editor.get(report_url).text
    assert "Import done" in page
    report = _text(_table(page, "report-table"))
    assert "customers 1" in report
    assert "invoice_lines 2" in report
    assert "metadata 2" in report
    counts = _ws(editor).counts()
    assert counts["customers"] == 5
    assert counts["invoice_lines"] == 20
    report_id = report_url.split("report=")[1].split("#")[0]
    frame = pd.read_csv(io.StringIO(editor.get(f"/data/reports/{report_id}").text))
    assert dict(zip(frame["table"], frame["rows_changed"], strict=True)) == {
        "customers": 1,
        "invoice_lines": 2,
        "metadata": 2,
    }
    log = pd.read_csv(io.StringIO(editor.get("/data/log").text))
    assert log["rows_read"].tolist() == [3, 25]
    # The new metadata key is a candidate for an axis.
    assert "Create axis segment" in editor.get("/axes").text


def test_import_of_a_zip(editor):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("billing/customers.csv", CUSTOMERS_CSV)
        zipped.writestr("billing/invoice_lines.csv", LINES_CSV)
    response = editor.post(
        "/data/import",
        data={"csrf_token": editor.csrf, "format": "csv"},
        files=[("files", ("billing.zip", archive.getvalue(), "application/zip"))],
    )
    assert response.status_code == 303
    assert _ws(editor).counts()["customers"] == 5


def test_import_of_periods(editor):
    body = (
        "customer_id,start_date,end_date,monthly_amount\nc1,2025-07-01,2025-08-01,80\n"
    )
    response = _upload(editor, [("periods.csv", body)], format="periods")
    assert response.status_code == 303
    assert _ws(editor).counts()["invoice_lines"] == 19


def test_rejected_import_changes_nothing(editor):
    before = _ws(editor).counts()
    response = _upload(
        editor,
        [("customers.csv", CUSTOMERS_CSV), ("invoice_lines.csv", BAD_LINES_CSV)],
    )
    assert response.status_code == 400
    html = response.text
    assert "Import rejected: nothing was changed" in html
    problems = _text(re.search(r'class="data problems".*?</table>', html, re.S)[0])
    assert "invoice_lines.csv 2 service_period_start 2025-13-01 invalid date" in (
        problems
    )
    assert "invoice_lines.csv 3 currency EURO unknown currency" in problems
    assert _ws(editor).counts() == before
    assert _ws(editor).con.table("import_log").count().execute() == 1
    report_id = re.search(r'href="/data/reports/([^"?]+)\?format=csv"', html)[1]
    frame = pd.read_csv(io.StringIO(editor.get(f"/data/reports/{report_id}").text))
    assert frame["field"].tolist()[:2] == ["service_period_start", "currency"]


def test_import_needs_a_format_for_one_file(editor):
    response = _upload(editor, [("export.csv", "a,b\n1,2\n")])
    assert response.status_code == 400
    assert "Cannot tell the format of export.csv" in response.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("\udcff", "s.json: invalid JSON, byte 0 is not UTF-8 text"),
        ("[" * 100_000, "s.json: invalid JSON, its arrays or objects are nested"),
    ],
    ids=["not-utf8", "too-deep"],
)
def test_import_of_unreadable_json(editor, content, message):
    body = content.encode("utf-8", "surrogateescape")
    response = editor.post(
        "/data/import",
        data={"csrf_token": editor.csrf},
        files={"files": ("s.json", body, "application/json")},
    )
    assert response.status_code == 400
    assert message in response.text


def test_import_of_two_files_with_one_name(editor):
    response = _upload(
        editor, [("customers.csv", CUSTOMERS_CSV), ("customers.csv", CUSTOMERS_CSV)]
    )
    assert response.status_code == 400
    assert "Two uploaded files are named customers.csv" in response.text


@pytest.mark.parametrize("mapping_name", ["upload", "..", "m" * 300 + ".toml"])
def test_import_mapping_file_names(editor, mapping_name):
    response = editor.post(
        "/data/import",
        data={"csrf_token": editor.csrf, "format": "mapped"},
        files=[
            ("files", ("export.csv", "a\n1\n", "text/csv")),
            ("mapping_file", (mapping_name, "nonsense = 1\n", "text/plain")),
        ],
    )
    # Each name is written or rejected as a name; the mapping is then invalid.
    assert response.status_code == 400
    text = _text(response.text)
    if mapping_name == "..":
        assert "Invalid file name &#39;..&#39;" in response.text
    else:
        assert "nonsense is not a canonical table or a mapping section" in text


def test_import_of_a_long_file_name(editor):
    name = "p" * 300 + ".csv"
    response = _upload(editor, [(name, "customer_id\n")], format="periods")
    assert response.status_code == 400
    assert "p" * 116 + ".csv" in response.text


def test_upload_over_body_limit_page(web_workspace_copy, monkeypatch):
    from revaxis.web import create_app

    monkeypatch.setenv("REVAXIS_MAX_UPLOAD_MB", "1")
    app = create_app(web_workspace_copy)
    with TestClient(app) as client:
        csrf = _client_as(client, "editor@example.com")
        response = client.post(
            "/data/import",
            data={"csrf_token": csrf},
            files={"files": ("s.json", b"[]" * 1024**2, "application/json")},
        )
    app.state.workspace.close()
    assert response.status_code == 413
    assert "Request body too large" in response.text


def test_import_report_of_another_user(editor, web_workspace_copy):
    response = _upload(
        editor, [("customers.csv", CUSTOMERS_CSV), ("invoice_lines.csv", LINES_CSV)]
    )
    report_id = response.headers["location"].split("report=")[1].split("#")[0]
    _client_as(editor, "viewer@example.com")
    assert editor.get(f"/data/reports/{report_id}").status_code == 404


# Settings ---------------------------------------------------------------------


def test_settings_page_for_viewer(viewer):
    response = viewer.get("/settings")
    assert response.status_code == 200
    html = response.text
    assert _rows(html, "setting") == [
        "currency",
        "grace_days",
        "delinquency_days",
        "refunds",
        "gross_margin",
        "ltv_window_months",
        "channel_axis",
    ]
    grace = _text(_row(html, "setting", "grace_days"))
    assert "days of renewal gap bridged without churn and reactivation" in grace
    assert 'action="/settings/values/' not in html
    assert 'id="users-table"' not in html
    # Viewers manage their own API tokens.
    assert 'id="token-form"' in html


def test_editor_changes_setting(editor):
    response = editor.post(
        "/settings/values/grace_days", data={"csrf_token": editor.csrf, "value": "3"}
    )
    assert response.status_code == 303
    assert _ws(editor).settings["grace_days"] == "3"
    assert "Setting grace_days is now 3." in editor.get("/settings").text
    reset = editor.post(
        "/settings/values/grace_days", data={"csrf_token": editor.csrf, "value": ""}
    )
    assert reset.status_code == 303
    assert _ws(editor).settings["grace_days"] == "0"


def test_invalid_setting_is_rejected(editor):
    response = editor.post(
        "/settings/values/grace_days", data={"csrf_token": editor.csrf, "value": "-1"}
    )
    assert response.status_code == 400
    assert "cannot be negative" in response.text
    assert _ws(editor).settings["grace_days"] == "0"


def test_settings_export(viewer):
    frame = pd.read_csv(io.StringIO(viewer.get("/settings/table").text))
    assert frame.set_index("key").loc["currency", "value"] == "USD"


def test_token_shown_once_and_revoked(viewer):
    csrf = login(viewer, "viewer@example.com")
    response = viewer.post(
        "/settings/tokens", data={"csrf_token": csrf, "name": "nightly export"}
    )
    assert response.status_code == 200
    token = re.search(r'<code id="new-token">(rvx_[^<]+)</code>', response.text)[1]
    assert (
        viewer.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()[
            "email"
        ]
        == "viewer@example.com"
    )
    page = viewer.get("/settings").text
    assert token not in page
    assert "nightly export" in page
    token_id = _ws(viewer).users.tokens("viewer@example.com")[0].token_id
    revoked = viewer.post(
        f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    assert _ws(viewer).users.tokens("viewer@example.com") == []


def test_unused_token_lists_as_never(viewer):
    csrf = login(viewer, "viewer@example.com")
    created = viewer.post("/settings/tokens", data={"csrf_token": csrf, "name": "bi"})
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    page = viewer.get("/settings")
    assert page.status_code == 200
    row = re.search(r"<td>bi</td>.*?</tr>", page.text, re.S)[0]
    assert "never" in row


def test_admin_manages_users(admin):
    page = admin.get("/settings").text
    assert _rows(page, "user") == [
        "admin@example.com",
        "editor@example.com",
        "viewer@example.com",
    ]
    added = admin.post(
        "/settings/users",
        data={
            "csrf_token": admin.csrf,
            "email": "new@example.com",
            "password": "long enough password",
            "role": "viewer",
        },
    )
    assert added.status_code == 303
    changed = admin.post(
        "/settings/users/new@example.com/role",
        data={"csrf_token": admin.csrf, "role": "editor"},
    )
    assert changed.status_code == 303
    users = _ws(admin).users
    assert users.find("new@example.com").role == "editor"
    deleted = admin.post(
        "/settings/users/new@example.com/delete", data={"csrf_token": admin.csrf}
    )
    assert deleted.status_code == 303
    assert users.find("new@example.com") is None
    users_csv = pd.read_csv(io.StringIO(admin.get("/settings/users").text))
    assert users_csv["role"].tolist() == ["admin", "editor", "viewer"]


def test_admin_cannot_remove_self(admin):
    own = admin.post(
        "/settings/users/admin@example.com/delete", data={"csrf_token": admin.csrf}
    )
    assert own.status_code == 400
    assert "You cannot delete your own account" in own.text
    role = admin.post(
        "/settings/users/admin@example.com/role",
        data={"csrf_token": admin.csrf, "role": "viewer"},
    )
    assert role.status_code == 400
    assert _ws(admin).users.find("admin@example.com").role == "admin"


def test_short_password_is_rejected(admin):
    response = admin.post(
        "/settings/users",
        data={
            "csrf_token": admin.csrf,
            "email": "new@example.com",
            "password": "short",
            "role": "viewer",
        },
    )
    assert response.status_code == 400
    assert "Password too short" in response.text
    assert 'value="new@example.com"' in response.text


def test_editor_cannot_manage_users(editor):
    page = editor.get("/settings").text
    assert 'id="users-table"' not in page
    assert editor.get("/settings/users").status_code == 403
    response = editor.post(
        "/settings/users",
        data={
            "csrf_token": editor.csrf,
            "email": "new@example.com",
            "password": "long enough password",
            "role": "admin",
        },
    )
    assert response.status_code == 403
    assert _ws(editor).users.find("new@example.com") is None


# Roles and CSRF -----------------------------------------------------------------

VIEWER_WRITES = [
    ("/axes", {"key": "manager", "source": "manual"}),
    ("/axes/channel/delete", {}),
    ("/axes/channel/rules", {"kind": "map", "pattern": "seo", "label": "SEO"}),
    ("/customers/c3/attributes/channel", {"value": "Partner"}),
    ("/settings/values/grace_days", {"value": "3"}),
    ("/settings/users", {"email": "x@example.com", "password": "x" * 12}),
]


@pytest.mark.parametrize(
    ("path", "form"), VIEWER_WRITES, ids=[path for path, _ in VIEWER_WRITES]
)
def test_viewer_write_is_forbidden(web_client, path, form):
    csrf = login(web_client, "viewer@example.com")
    before = _ws(web_client).axes_registry().keys()
    response = web_client.post(path, data={"csrf_token": csrf, **form})
    assert response.status_code == 403
    assert _ws(web_client).axes_registry().keys() == before
    assert _ws(web_client).settings["grace_days"] == "0"
    assert _ws(web_client).rules("channel").empty


def test_viewer_upload_is_forbidden(web_client):
    csrf = login(web_client, "viewer@example.com")
    response = web_client.post(
        "/data/import",
        data={"csrf_token": csrf},
        files=[("files", ("customers.csv", CUSTOMERS_CSV, "text/csv"))],
    )
    assert response.status_code == 403
    assert _ws(web_client).counts()["customers"] == 4


@pytest.mark.parametrize(
    "path", ["/customers/c3?as_of=" + DAY, "/axes", "/axes/channel", "/data"]
)
def test_viewer_sees_no_write_controls(viewer, path):
    html = viewer.get(path).text
    forms = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html)
    assert forms == ["/logout"]
    assert "hx-post" not in html


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/axes", {"key": "manager", "source": "manual"}),
        ("/axes/channel/rules", {"kind": "map", "pattern": "seo", "label": "SEO"}),
        ("/settings/values/grace_days", {"value": "3"}),
        ("/settings/tokens", {"name": "x"}),
    ],
    ids=["axis", "rule", "setting", "token"],
)
def test_form_without_csrf_is_rejected(editor, path, form):
    response = editor.post(path, data=form)
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert "manager" not in _ws(editor).axes_registry()
    assert _ws(editor).rules("channel").empty
    assert _ws(editor).settings["grace_days"] == "0"


def test_upload_without_csrf_is_rejected(editor):
    response = editor.post(
        "/data/import",
        files=[("files", ("customers.csv", CUSTOMERS_CSV, "text/csv"))],
    )
    assert response.status_code == 403
    assert _ws(editor).counts()["customers"] == 4


def test_pages_need_login(web_client):
    response = web_client.get("/axes", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/axes"


# Languages ----------------------------------------------------------------------


def test_pages_in_french(viewer):
    viewer.cookies.set(_i18n.LANG_COOKIE, "fr")
    axes = viewer.get("/axes").text
    assert "Axes et couverture" in axes
    customers = viewer.get(f"/customers?as_of={DAY}").text
    assert "100 $US" in _text(_row(customers, "customer", "c1"))
    assert "actif" in _text(_row(customers, "customer", "c1"))
    settings = viewer.get("/settings").text
    assert "devise des rapports, un code ISO 4217" in settings


def _messages() -> set[str]:
    """Return the msgids of the admin templates and modules: the literal
    arguments of `_()`, with adjacent Python string literals joined."""
    call = re.compile(r"""_\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+|'(?:[^'\\]|\\.)*')""")
    literal = re.compile(r""""((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'""")
    files = [*(WEB / "templates" / "admin").glob("*.html"), *WEB.glob("_admin_*.py")]
    found = set()
    for path in files:
        for match in call.finditer(path.read_text()):
            parts = literal.findall(match.group(1))
            found.add("".join(double or single for double, single in parts))
    return found - {""}


def test_every_admin_message_has_french():
    french = _i18n.catalog("fr")
    missing = sorted(message for message in _messages() if message not in french)
    assert missing == []
