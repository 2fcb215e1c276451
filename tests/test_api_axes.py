"""REST API axis routes on the web test workspace (tests/webapp.py). Its one
custom axis is `channel`, read from the customer metadata key `channel`: c1
"SEO", c2 "Ads", c3 "seo" (imported as "seo ") and c4 "Ads". On 30 June 2025
c1, c3 and c4 pay 100 each and c2 nothing."""

from __future__ import annotations

import io

import openpyxl
import pytest

AS_OF = "2025-06-30"


def test_axes_list(web_client, api_headers):
    response = web_client.get(
        "/api/v1/axes", params={"as_of": AS_OF}, headers=api_headers["viewer"]
    )
    assert response.status_code == 200
    body = response.json()
    axes = {axis["key"]: axis for axis in body["axes"]}
    assert list(axes)[:4] == ["product", "plan", "interval", "currency"]
    channel = axes["channel"]
    assert channel["level"] == "customer"
    assert channel["source"] == "metadata.channel"
    # "SEO", "Ads" and "seo": rules have not merged the two spellings yet.
    assert channel["values"] == 3
    assert channel["customers_coverage"] == 1.0
    assert channel["mrr_coverage"] == 1.0
    assert axes["plan"]["values"] == 2
    assert body["metadata_keys"] == {
        "customer": ["channel"],
        "subscription": [],
        "product": [],
        "plan": [],
    }


def test_axes_list_csv(web_client, api_headers):
    response = web_client.get(
        "/api/v1/axes",
        params={"as_of": AS_OF, "format": "csv"},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0] == ("key,label,level,source,values,customers_coverage,mrr_coverage")
    assert "channel,Channel,customer,metadata.channel,3,1.0,1.0" in lines


def test_create_manual_axis(web_client, api_headers):
    response = web_client.post(
        "/api/v1/axes",
        json={"key": "manager", "label": "Account manager"},
        headers=api_headers["editor"],
    )
    assert response.status_code == 201
    assert response.json() == {
        "key": "manager",
        "label": "Account manager",
        "level": "customer",
        "source": "manual",
        "value_type": "category",
        "parent": None,
        "buckets": [],
        "warning": None,
    }
    listed = web_client.get("/api/v1/axes", headers=api_headers["viewer"]).json()
    assert "manager" in [axis["key"] for axis in listed["axes"]]


def test_create_metadata_axis_warns(web_client, api_headers):
    response = web_client.post(
        "/api/v1/axes",
        json={"key": "partner", "source": "metadata.partner"},
        headers=api_headers["editor"],
    )
    assert response.status_code == 201
    warning = response.json()["warning"]
    assert "No customer has the metadata key 'partner' yet" in warning
    assert "Keys present: channel." in warning


def test_create_derived_and_band_axes(web_client, api_headers):
    editor = api_headers["editor"]
    derived = web_client.post(
        "/api/v1/axes",
        json={"key": "channel_group", "parent": "channel"},
        headers=editor,
    )
    assert derived.status_code == 201
    assert derived.json()["source"] == "derived from channel"
    band = web_client.post(
        "/api/v1/axes",
        json={"key": "band", "source": "computed.mrr_band", "buckets": [0, 75]},
        headers=editor,
    )
    assert band.status_code == 201
    rows = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "by": "band", "from": "2025-03", "to": "2025-03"},
        headers=editor,
    ).json()
    # March: c2 and c3 pay 50 each (band 0-75), c1 and c4 100 each (75+).
    ends = {row["band"]: row["mrr_end"] for row in rows}
    assert ends == {"0-75": 100.0, "75+": 200.0}


@pytest.mark.parametrize(
    ("body", "status", "parameter", "message"),
    [
        ({"key": "Manager"}, 400, "key", "Invalid axis key 'Manager'"),
        ({"key": "channel"}, 409, "key", "Axis 'channel' already exists"),
        ({"key": "x", "level": "team"}, 400, "level", "Invalid level 'team'"),
        ({"key": "x", "value_type": "text"}, 400, "value_type", "Invalid value_type"),
        ({"key": "x", "parent": "chanel"}, 400, "parent", "Unknown parent axis"),
        (
            {"key": "x", "parent": "channel", "source": "manual"},
            400,
            "parent",
            "leave out level and source",
        ),
        ({"key": "x", "source": "crm"}, 400, "source", "Invalid source 'crm'"),
        ({"key": "x", "buckets": [10, 5]}, 400, "buckets", "Invalid buckets"),
        (
            {"key": "x", "source": "computed.mrr_band"},
            400,
            "buckets",
            "needs --buckets",
        ),
        ({"label": "No key"}, 422, "key", "Invalid value for key"),
    ],
    ids=[
        "key",
        "exists",
        "level",
        "type",
        "parent",
        "parent-and-source",
        "source",
        "buckets",
        "band-buckets",
        "missing-key",
    ],
)
def test_create_axis_invalid(web_client, api_headers, body, status, parameter, message):
    response = web_client.post("/api/v1/axes", json=body, headers=api_headers["editor"])
    assert response.status_code == status
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert message in error["message"]


def test_delete_axis(web_client, api_headers):
    editor = api_headers["editor"]
    web_client.post("/api/v1/axes", json={"key": "manager"}, headers=editor)
    web_client.put(
        "/api/v1/axes/manager/values/c1", json={"value": "Ann"}, headers=editor
    )
    response = web_client.delete("/api/v1/axes/manager", headers=editor)
    assert response.status_code == 204
    listed = web_client.get("/api/v1/axes", headers=editor).json()
    assert "manager" not in [axis["key"] for axis in listed["axes"]]
    again = web_client.delete("/api/v1/axes/manager", headers=editor)
    assert again.status_code == 404
    assert again.json()["error"]["parameter"] == "key"


@pytest.mark.parametrize(
    ("key", "message"),
    [("plan", "is native"), ("channel", "is the source of channel_group")],
    ids=["native", "parent"],
)
def test_delete_axis_rejected(web_client, api_headers, key, message):
    editor = api_headers["editor"]
    web_client.post(
        "/api/v1/axes",
        json={"key": "channel_group", "parent": "channel"},
        headers=editor,
    )
    response = web_client.delete(f"/api/v1/axes/{key}", headers=editor)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "key"
    assert message in error["message"]


def test_set_value_overrides_metadata(web_client, api_headers):
    editor = api_headers["editor"]
    response = web_client.put(
        "/api/v1/axes/channel/values/c2",
        json={"value": "Partner", "valid_from": "2025-02-01"},
        headers=editor,
    )
    assert response.status_code == 200
    assert response.json() == {
        "key": "channel",
        "level": "customer",
        "entity_id": "c2",
        "value": "Partner",
        "valid_from": "2025-02-01",
    }
    rows = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "by": "channel", "to": "2025-02"},
        headers=editor,
    ).json()
    ends = {(row["period"], row["channel"]): row["mrr_end"] for row in rows}
    # c2's 50 counts as Ads in January and moves to Partner on 1 February.
    assert ends[("2025-01", "Ads")] == 50.0
    assert ends[("2025-02", "Ads")] == 0.0
    assert ends[("2025-02", "Partner")] == 50.0


@pytest.mark.parametrize(
    ("path", "body", "status", "parameter"),
    [
        ("/api/v1/axes/channel/values/c42", {"value": "x"}, 404, "entity_id"),
        ("/api/v1/axes/nope/values/c1", {"value": "x"}, 404, "key"),
        ("/api/v1/axes/plan/values/pro", {"value": "x"}, 400, "key"),
        (
            "/api/v1/axes/channel/values/c1",
            {"value": "x", "valid_from": "x"},
            422,
            "valid_from",
        ),
    ],
    ids=["unknown-entity", "unknown-axis", "native", "date"],
)
def test_set_value_invalid(web_client, api_headers, path, body, status, parameter):
    response = web_client.put(path, json=body, headers=api_headers["editor"])
    assert response.status_code == status
    assert response.json()["error"]["parameter"] == parameter


def test_set_value_on_product_axis_rejects_date(web_client, api_headers):
    editor = api_headers["editor"]
    web_client.post(
        "/api/v1/axes", json={"key": "line", "level": "product"}, headers=editor
    )
    response = web_client.put(
        "/api/v1/axes/line/values/app",
        json={"value": "Core", "valid_from": "2025-01-01"},
        headers=editor,
    )
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "valid_from"
    undated = web_client.put(
        "/api/v1/axes/line/values/app", json={"value": "Core"}, headers=editor
    )
    assert undated.status_code == 200


def test_upload_values(web_client, api_headers):
    editor = api_headers["editor"]
    web_client.post("/api/v1/axes", json={"key": "manager"}, headers=editor)
    content = b"id,value,valid_from\nc1,Ann,\nc2,Bob,\nc2,Cy,2025-03-01\n"
    response = web_client.post(
        "/api/v1/axes/manager/values",
        files={"file": ("managers.csv", content, "text/csv")},
        headers=editor,
    )
    assert response.status_code == 200
    assert response.json() == {"key": "manager", "rows_written": 3}
    rows = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "by": "manager", "from": "2025-03", "to": "2025-03"},
        headers=editor,
    ).json()
    by_manager = {row["manager"]: row for row in rows}
    # March: Ann has c1 (100), and c3 and c4 have no manager (50 + 100). c2's
    # 50 moves from Bob to Cy on 1 March by transfer.
    assert by_manager["Ann"]["mrr_end"] == 100.0
    assert by_manager["(none)"]["mrr_end"] == 150.0
    assert by_manager["Bob"]["transfer_out"] == 50.0
    assert by_manager["Bob"]["mrr_end"] == 0.0
    assert by_manager["Cy"]["transfer_in"] == 50.0
    assert by_manager["Cy"]["mrr_end"] == 50.0


def test_upload_values_xlsx(web_client, api_headers):
    editor = api_headers["editor"]
    web_client.post("/api/v1/axes", json={"key": "manager"}, headers=editor)
    book = openpyxl.Workbook()
    book.active.append(["id", "value"])
    book.active.append(["c4", "Dee"])
    buffer = io.BytesIO()
    book.save(buffer)
    response = web_client.post(
        "/api/v1/axes/manager/values",
        files={
            "file": ("managers.xlsx", buffer.getvalue(), "application/octet-stream")
        },
        headers=editor,
    )
    assert response.status_code == 200
    assert response.json()["rows_written"] == 1


def test_upload_values_rejected(web_client, api_headers):
    editor = api_headers["editor"]
    web_client.post("/api/v1/axes", json={"key": "manager"}, headers=editor)
    content = b"id,value,valid_from\nc1,Ann,\nc42,Bob,\nc2,Cy,March\n"
    response = web_client.post(
        "/api/v1/axes/manager/values",
        files={"file": ("managers.csv", content, "text/csv")},
        headers=editor,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "file"
    assert "2 problem(s) in 3 row(s)" in error["message"]
    assert error["problems"] == [
        {
            "file": "managers.csv",
            "line": 3,
            "field": "id",
            "value": "c42",
            "reason": "unknown customer id; import its billing data first or fix "
            "the id",
        },
        {
            "file": "managers.csv",
            "line": 4,
            "field": "valid_from",
            "value": "March",
            "reason": "invalid date; write YYYY-MM-DD",
        },
    ]
    # Nothing was written, not even c1's valid row.
    details = web_client.get("/api/v1/customers/c1", headers=editor).json()
    assert details["attributes"]["manager"] is None


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("v.csv", b"", "the file is empty; the header must name id, value"),
        ("v.csv", b"\xff\xfeid,value\n", "byte 0 is not UTF-8 text"),
        ("v.xlsx", b"junk", "not a valid Excel workbook"),
    ],
    ids=["empty-csv", "binary-csv", "junk-xlsx"],
)
def test_upload_values_unreadable(web_client, api_headers, name, content, reason):
    editor = api_headers["editor"]
    web_client.post("/api/v1/axes", json={"key": "manager"}, headers=editor)
    response = web_client.post(
        "/api/v1/axes/manager/values",
        files={"file": (name, content, "application/octet-stream")},
        headers=editor,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "file"
    assert error["problems"][0]["file"] == name
    assert reason in error["problems"][0]["reason"]


def test_upload_values_wrong_file_type(web_client, api_headers):
    response = web_client.post(
        "/api/v1/axes/channel/values",
        files={"file": ("values.txt", b"id,value\n", "text/plain")},
        headers=api_headers["editor"],
    )
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "file"


def test_rules_add_list_remove(web_client, api_headers):
    editor = api_headers["editor"]
    added = web_client.post(
        "/api/v1/axes/channel/rules",
        json={"kind": "map", "pattern": "seo", "label": "SEO"},
        headers=editor,
    )
    assert added.status_code == 201
    assert added.json() == {
        "position": 1,
        "kind": "map",
        "pattern": "seo",
        "label": "SEO",
    }
    web_client.post(
        "/api/v1/axes/channel/rules",
        json={"kind": "regex", "pattern": "^A", "label": "Paid"},
        headers=editor,
    )
    rules = web_client.get("/api/v1/axes/channel/rules", headers=editor).json()
    assert [(rule["position"], rule["label"]) for rule in rules] == [
        (1, "SEO"),
        (2, "Paid"),
    ]
    # The map rule merges c3's "seo" into c1's "SEO": 100 + 100 on 30 June.
    rows = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "by": "channel", "from": "2025-06"},
        headers=editor,
    ).json()
    assert {row["channel"]: row["mrr_end"] for row in rows} == {
        "Paid": 100.0,
        "SEO": 200.0,
    }
    removed = web_client.delete("/api/v1/axes/channel/rules/1", headers=editor)
    assert removed.status_code == 204
    left = web_client.get("/api/v1/axes/channel/rules", headers=editor).json()
    assert [rule["position"] for rule in left] == [2]


def test_rules_csv(web_client, api_headers):
    response = web_client.get(
        "/api/v1/axes/channel/rules",
        params={"format": "csv"},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 200
    assert response.text.splitlines() == ["position,kind,pattern,label"]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"kind": "glob", "pattern": "s*", "label": "S"}, "kind"),
        ({"kind": "regex", "pattern": "(", "label": "S"}, "pattern"),
        ({"kind": "map", "pattern": "", "label": "S"}, "pattern"),
        ({"kind": "map", "pattern": "seo", "label": "  "}, "label"),
    ],
    ids=["kind", "regex", "empty-pattern", "empty-label"],
)
def test_add_rule_invalid(web_client, api_headers, body, parameter):
    response = web_client.post(
        "/api/v1/axes/channel/rules", json=body, headers=api_headers["editor"]
    )
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == parameter


def test_remove_rule_unknown(web_client, api_headers):
    response = web_client.delete(
        "/api/v1/axes/channel/rules/9", headers=api_headers["editor"]
    )
    assert response.status_code == 404
    assert response.json()["error"]["parameter"] == "position"


def test_rules_of_unknown_axis(web_client, api_headers):
    response = web_client.get("/api/v1/axes/nope/rules", headers=api_headers["viewer"])
    assert response.status_code == 404
    assert response.json()["error"]["parameter"] == "key"


def test_preview_saved_rules(web_client, api_headers):
    response = web_client.get(
        "/api/v1/axes/channel/preview",
        params={"as_of": AS_OF},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 200
    rows = {row["raw_label"]: row for row in response.json()}
    # On 30 June: c4 pays 100 as "Ads", c1 100 as "SEO", c3 100 as "seo".
    # c2 ("Ads") no longer pays.
    assert rows["Ads"]["customers"] == 1
    assert rows["Ads"]["mrr"] == 100.0
    assert rows["seo"]["label"] == "seo"
    assert rows["seo"]["reviewed"] is False
    assert rows["seo"]["rule"] is None
    # "SEO" and "seo" fold to the same text, so each suggests the other.
    assert rows["seo"]["suggestions"] == ["SEO"]


def test_preview_draft_rule(web_client, api_headers):
    response = web_client.post(
        "/api/v1/axes/channel/preview",
        json={
            "rules": [{"kind": "map", "pattern": "SEO", "label": "Organic"}],
            "as_of": AS_OF,
        },
        headers=api_headers["viewer"],
    )
    assert response.status_code == 200
    rows = {row["raw_label"]: row for row in response.json()}
    # A map rule ignores case, so both spellings land on "Organic", matched by
    # the draft at position 1.
    assert rows["SEO"]["label"] == "Organic"
    assert rows["seo"]["label"] == "Organic"
    assert rows["seo"]["reviewed"] is True
    assert rows["seo"]["rule"] == 1
    assert rows["seo"]["suggestions"] == []
    assert rows["Ads"]["label"] == "Ads"
    # Nothing was saved.
    saved = web_client.get("/api/v1/axes/channel/rules", headers=api_headers["viewer"])
    assert saved.json() == []


def test_preview_draft_after_saved_rules(web_client, api_headers):
    editor = api_headers["editor"]
    web_client.post(
        "/api/v1/axes/channel/rules",
        json={"kind": "map", "pattern": "seo", "label": "SEO"},
        headers=editor,
    )
    rows = web_client.post(
        "/api/v1/axes/channel/preview",
        json={"rules": [{"kind": "regex", "pattern": "^(SEO|Ads)$", "label": "Known"}]},
        headers=editor,
    ).json()
    landing = {row["raw_label"]: (row["label"], row["rule"]) for row in rows}
    # The saved rule 1 decides "seo" and "SEO" first; the draft, rule 2, takes
    # "Ads" only.
    assert landing == {"SEO": ("SEO", 1), "seo": ("SEO", 1), "Ads": ("Known", 2)}


def test_preview_csv(web_client, api_headers):
    response = web_client.get(
        "/api/v1/axes/channel/preview",
        params={"as_of": AS_OF, "format": "csv"},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0] == "raw_label,label,customers,mrr,reviewed,rule,suggestions"
    assert "seo,seo,1,100.0,False,,SEO" in lines


@pytest.mark.parametrize(
    ("body", "status", "parameter"),
    [
        (
            {"rules": [{"kind": "regex", "pattern": "[", "label": "X"}]},
            400,
            "rules[0].pattern",
        ),
        (
            {"rules": [{"kind": "map", "pattern": "a", "label": ""}]},
            400,
            "rules[0].label",
        ),
        ({"rules": [], "currency": "ZZZ"}, 400, "currency"),
        ({"rules": [], "as_of": "June"}, 422, "as_of"),
    ],
    ids=["regex", "label", "currency", "as_of"],
)
def test_preview_draft_invalid(web_client, api_headers, body, status, parameter):
    response = web_client.post(
        "/api/v1/axes/channel/preview", json=body, headers=api_headers["viewer"]
    )
    assert response.status_code == status
    assert response.json()["error"]["parameter"] == parameter
