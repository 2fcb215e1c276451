"""REST API import and settings routes on the web test workspace
(tests/webapp.py): 1 product, 2 plans, 4 customers and 18 monthly invoice
lines, loaded from frames under the source name "webapp-test"."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

AS_OF = "2025-06-30"
LINES_HEADER = (
    "invoice_id,line_id,customer_id,currency,amount,service_period_start,"
    "service_period_end\n"
)


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _counts(web_client) -> dict[str, int]:
    return web_client.app.state.workspace.counts()


def test_import_canonical_zip(web_client, api_headers):
    editor = api_headers["editor"]
    archive = _zip(
        {
            # A folder inside the archive is fine: files are read by name.
            "export/customers.csv": "customer_id,name\nc5,Echo\n",
            "export/invoice_lines.csv": LINES_HEADER
            + "e1,1,c5,USD,70,2025-05-01,2025-06-01\n",
        }
    )
    response = web_client.post(
        "/api/v1/imports",
        files={"file": ("billing.zip", archive, "application/zip")},
        headers=editor,
    )
    assert response.status_code == 200
    report = response.json()
    assert report["source"] == "billing.zip"
    assert report["format"] == "csv"
    assert report["rows_read"] == 2
    assert report["rows_imported"] == 2
    assert report["rows_rejected"] == 0
    assert report["rows_changed"] == {"customers": 1, "invoice_lines": 1}
    assert report["problems"] == []
    assert report["summary"].startswith("billing.zip: 2 rows read")
    # May MRR: the 300 of c1, c3 and c4 plus c5's 70.
    rows = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "from": "2025-05", "to": "2025-05"},
        headers=editor,
    ).json()
    assert rows[0]["mrr_end"] == 370.0
    assert rows[0]["new"] == 70.0


def test_import_periods_csv(web_client, api_headers):
    text = (
        "customer_id,start_date,end_date,monthly_amount\np1,2025-01-01,2025-03-01,40\n"
    )
    response = web_client.post(
        "/api/v1/imports",
        files={"file": ("periods.csv", text.encode(), "text/csv")},
        data={"format": "periods"},
        headers=api_headers["editor"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["format"] == "periods"
    rows = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "to": "2025-01"},
        headers=api_headers["editor"],
    ).json()
    # January: c1 100 + c2 50 + p1 40.
    assert rows[0]["mrr_end"] == 190.0


def test_import_stripe_json(web_client, api_headers):
    document = {
        "customers": [{"id": "cus_1", "object": "customer", "name": "Foxtrot"}],
        "invoices": [],
    }
    response = web_client.post(
        "/api/v1/imports",
        files={"file": ("stripe.json", json.dumps(document).encode(), "text/json")},
        headers=api_headers["editor"],
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["format"] == "stripe-json"
    assert report["source"] == "stripe.json"


def test_import_rejected_changes_nothing(web_client, api_headers):
    before = _counts(web_client)
    archive = _zip(
        {
            "customers.csv": "customer_id,name\nc6,Golf\n",
            "invoice_lines.csv": LINES_HEADER
            + "g1,1,c6,USD,abc,2025-05-01,2025-06-01\n"
            + "g2,1,c99,USD,10,2025-05-01,2025-06-01\n",
        }
    )
    response = web_client.post(
        "/api/v1/imports",
        files={"file": ("bad.zip", archive, "application/zip")},
        headers=api_headers["editor"],
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "file"
    assert "2 problem(s) in 3 row(s) read" in error["message"]
    assert "nothing was changed" in error["message"]
    assert [
        (p["file"], p["line"], p["field"], p["value"]) for p in error["problems"]
    ] == [
        ("invoice_lines.csv", 2, "amount", "abc"),
        ("invoice_lines.csv", 3, "customer_id", "c99"),
    ]
    assert error["problems"][1]["reason"].startswith("unknown customer")
    # The valid customer c6 was not written either.
    assert _counts(web_client) == before
    log = web_client.get("/api/v1/imports", headers=api_headers["viewer"]).json()
    assert len(log) == 1


@pytest.mark.parametrize(
    ("name", "content", "data", "parameter", "message"),
    [
        ("x.csv", b"a\n", {}, "format", "Cannot tell the format of 'x.csv'"),
        ("x.csv", b"a\n", {"format": "excel"}, "format", "Invalid format 'excel'"),
        ("x.csv", b"a\n", {"format": "csv"}, "format", "upload it as a ZIP"),
        (
            "x.zip",
            _zip({"a.csv": "a"}),
            {"format": "periods"},
            "format",
            "not an archive",
        ),
        ("x.xlsx", b"a", {"mapping": "nope"}, "mapping", "Unknown mapping 'nope'"),
        ("x.zip", b"not a zip", {}, "file", "is not a valid ZIP archive"),
        ("x.json", b"{", {}, "file", "invalid JSON"),
        ("s.json", b"\xff\xfe\x00\x9c", {}, "file", "s.json: invalid JSON, byte 0"),
        ("s.json", b"[" * 100_000, {}, "file", "s.json: invalid JSON, its arrays"),
        ("..", b"a,b\n", {"format": "periods"}, "file", "Invalid file name '..'"),
        (".", b"a,b\n", {"format": "periods"}, "file", "Invalid file name '.'"),
    ],
    ids=[
        "no-format",
        "bad-format",
        "csv-not-zip",
        "zip-not-csv",
        "mapping",
        "bad-zip",
        "bad-json",
        "json-not-utf8",
        "json-too-deep",
        "name-dotdot",
        "name-dot",
    ],
)
def test_import_invalid(
    web_client, api_headers, name, content, data, parameter, message
):
    response = web_client.post(
        "/api/v1/imports",
        files={"file": (name, content, "application/octet-stream")},
        data=data,
        headers=api_headers["editor"],
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert message in error["message"]


def test_import_long_file_name_is_shortened(web_client, api_headers):
    name = "a" * 300 + ".csv"
    response = web_client.post(
        "/api/v1/imports",
        files={"file": (name, b"customer_id\n", "text/csv")},
        data={"format": "periods"},
        headers=api_headers["editor"],
    )
    # The file is read under a shorter name that keeps its suffix, and then
    # rejected for its missing columns.
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "file"
    assert error["problems"][0]["file"] == "a" * 116 + ".csv"


def test_upload_over_body_limit(web_workspace_copy, monkeypatch):
    from fastapi.testclient import TestClient

    from revaxis.web import create_app

    monkeypatch.setenv("REVAXIS_MAX_UPLOAD_MB", "1")
    app = create_app(web_workspace_copy)
    with app.state.users_lock:
        token = app.state.users.create_token("editor@example.com", "tests")
    with TestClient(app) as client:
        response = client.post(
            "/api/v1/imports",
            files={"file": ("s.json", b"[]" * 1024**2, "application/json")},
            headers={"Authorization": f"Bearer {token}"},
        )
    app.state.workspace.close()
    assert response.status_code == 413
    message = response.json()["error"]["message"]
    assert "Request body too large" in message
    assert "at most 1 MiB (REVAXIS_MAX_UPLOAD_MB)" in message


def test_upload_limit_setting_invalid(web_workspace_copy, monkeypatch):
    from revaxis._errors import InputError
    from revaxis.web import create_app

    monkeypatch.setenv("REVAXIS_MAX_UPLOAD_MB", "lots")
    with pytest.raises(InputError, match="Invalid REVAXIS_MAX_UPLOAD_MB 'lots'"):
        create_app(web_workspace_copy)


def test_import_zip_without_required_files(web_client, api_headers):
    response = web_client.post(
        "/api/v1/imports",
        files={"file": ("x.zip", _zip({"plans.csv": "plan_id\n"}), "application/zip")},
        headers=api_headers["editor"],
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "file"
    reasons = " ".join(problem["reason"] for problem in error["problems"])
    assert "customers.csv" in reasons
    assert "invoice_lines.csv" in reasons


def test_import_without_file(web_client, api_headers):
    response = web_client.post(
        "/api/v1/imports", data={"format": "csv"}, headers=api_headers["editor"]
    )
    assert response.status_code == 422
    assert response.json()["error"]["parameter"] == "file"


def test_import_log(web_client, api_headers):
    archive = _zip(
        {
            "customers.csv": "customer_id\nc7\n",
            "invoice_lines.csv": LINES_HEADER + "h1,1,c7,USD,5,2025-05-01,2025-06-01\n",
        }
    )
    web_client.post(
        "/api/v1/imports",
        files={"file": ("more.zip", archive, "application/zip")},
        headers=api_headers["editor"],
    )
    log = web_client.get("/api/v1/imports", headers=api_headers["viewer"]).json()
    # Newest first: this upload, then the test workspace's own load of
    # 1 + 2 + 4 + 18 rows.
    assert [entry["source"] for entry in log] == ["more.zip", "webapp-test"]
    assert log[0]["format"] == "csv"
    assert log[0]["rows_read"] == 2
    assert log[0]["rows_imported"] == 2
    assert log[0]["rows_rejected"] == 0
    assert log[1]["rows_read"] == 25
    assert log[0]["imported_at"] > log[1]["imported_at"]


def test_settings_list(web_client, api_headers):
    response = web_client.get("/api/v1/settings", headers=api_headers["viewer"])
    assert response.status_code == 200
    settings = {row["key"]: row for row in response.json()}
    assert list(settings) == [
        "currency",
        "grace_days",
        "delinquency_days",
        "refunds",
        "gross_margin",
        "ltv_window_months",
        "channel_axis",
    ]
    assert settings["currency"]["value"] == "USD"
    assert settings["currency"]["default"] == "USD"
    assert settings["delinquency_days"]["value"] is None
    assert "reporting currency" in settings["currency"]["description"]


def test_setting_change_and_reset(web_client, api_headers):
    editor = api_headers["editor"]
    changed = web_client.put(
        "/api/v1/settings/gross_margin", json={"value": "80%"}, headers=editor
    )
    assert changed.status_code == 200
    assert changed.json() == {"key": "gross_margin", "value": "0.8"}
    rows = web_client.get(
        "/api/v1/kpis",
        params={"as_of": AS_OF, "interval": "quarter"},
        headers=editor,
    ).json()
    # Q2 LTV: ARPA 100 x margin 0.8 / the mean monthly customer churn rate
    # of January to June. January has no customers at its start and no rate;
    # April loses 1 of 4 and the other four months none: 0.25 / 5 = 0.05.
    assert rows[1]["ltv"] == pytest.approx(100 * 0.8 / 0.05)
    reset = web_client.put(
        "/api/v1/settings/gross_margin", json={"value": None}, headers=editor
    )
    assert reset.json() == {"key": "gross_margin", "value": "1.0"}


@pytest.mark.parametrize(
    ("key", "body", "status", "parameter"),
    [
        ("grace_days", {"value": "-1"}, 400, "value"),
        ("currency", {"value": "ZZZ"}, 400, "value"),
        ("refunds", {"value": "keep"}, 400, "value"),
        ("web_session_secret", {"value": "x"}, 404, "key"),
        ("grace_days", {}, 422, "value"),
    ],
    ids=["negative", "currency", "refunds", "unknown", "no-value"],
)
def test_setting_invalid(web_client, api_headers, key, body, status, parameter):
    response = web_client.put(
        f"/api/v1/settings/{key}", json=body, headers=api_headers["editor"]
    )
    assert response.status_code == status
    assert response.json()["error"]["parameter"] == parameter
