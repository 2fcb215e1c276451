"""REST API customer routes on the web test workspace (tests/webapp.py): c1
Pro 100 from January to June 2025, c2 Basic 50 from January to March, c3
Basic 50 in February and March then Pro 100, c4 Pro 100 from March."""

from __future__ import annotations

import pytest

AS_OF = "2025-06-30"


def test_customer_list(web_client, api_headers):
    response = web_client.get(
        "/api/v1/customers", params={"as_of": AS_OF}, headers=api_headers["viewer"]
    )
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 4
    assert page["limit"] == 50
    assert page["offset"] == 0
    # On 30 June c1, c3 and c4 pay 100 each (equal MRR sorts by id); c2
    # churned on 1 April.
    assert [item["customer_id"] for item in page["items"]] == ["c1", "c3", "c4", "c2"]
    assert [item["mrr"] for item in page["items"]] == [100.0, 100.0, 100.0, 0.0]
    assert page["items"][3] == {
        "customer_id": "c2",
        "name": "Bistro Paris",
        "email": None,
        "company": None,
        "country": "FR",
        "mrr": 0.0,
        "status": "churned",
        "acquired_on": "2025-01-01",
    }


def test_customer_list_search_and_page(web_client, api_headers):
    viewer = api_headers["viewer"]
    found = web_client.get(
        "/api/v1/customers",
        params={"as_of": AS_OF, "search": "CO"},
        headers=viewer,
    ).json()
    # "Acme Corp" and "Cobalt GmbH" contain "co".
    assert found["total"] == 2
    assert [item["name"] for item in found["items"]] == ["Acme Corp", "Cobalt GmbH"]
    page = web_client.get(
        "/api/v1/customers",
        params={"as_of": AS_OF, "limit": 2, "offset": 2},
        headers=viewer,
    ).json()
    assert page["total"] == 4
    assert [item["customer_id"] for item in page["items"]] == ["c4", "c2"]


@pytest.mark.parametrize(
    ("params", "status", "parameter"),
    [
        ({"limit": 0}, 400, "limit"),
        ({"limit": 501}, 400, "limit"),
        ({"offset": -1}, 400, "offset"),
        ({"limit": "ten"}, 422, "limit"),
        ({"as_of": "30/06/2025"}, 400, "as_of"),
        ({"currency": "ZZZ"}, 400, "currency"),
        ({"offset": "99999999999999999999999"}, 422, "offset"),
        ({"search": "c\x00"}, 400, "search"),
        ({"as_of": "1677-09-21"}, 400, "as_of"),
    ],
    ids=[
        "limit-0",
        "limit-501",
        "offset",
        "limit-text",
        "as_of",
        "currency",
        "offset-too-large",
        "search-nul",
        "as_of-out-of-range",
    ],
)
def test_customer_list_invalid(web_client, api_headers, params, status, parameter):
    response = web_client.get(
        "/api/v1/customers", params=params, headers=api_headers["viewer"]
    )
    assert response.status_code == status
    assert response.json()["error"]["parameter"] == parameter


def test_customer_details(web_client, api_headers):
    response = web_client.get(
        "/api/v1/customers/c3", params={"as_of": AS_OF}, headers=api_headers["viewer"]
    )
    assert response.status_code == 200
    details = response.json()
    assert details["customer"]["name"] == "Cobalt GmbH"
    assert details["customer"]["mrr"] == 100.0
    assert details["customer"]["status"] == "active"
    assert details["customer"]["acquired_on"] == "2025-02-01"
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
    # Basic 50 in February and March, Pro 100 from April to June.
    assert details["mrr_history"] == [
        {"period": "2025-02", "mrr": 50.0},
        {"period": "2025-03", "mrr": 50.0},
        {"period": "2025-04", "mrr": 100.0},
        {"period": "2025-05", "mrr": 100.0},
        {"period": "2025-06", "mrr": 100.0},
    ]
    assert [row["date"] for row in details["movements"]] == [
        "2025-02-01",
        "2025-04-01",
    ]
    assert details["movements"][1]["expansion"] == 50.0


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"offset": "99999999999999999999999"}, "offset", "less than or equal to"),
        ({"search": "c\x00"}, "search", "contains a NUL character"),
        ({"as_of": "0001-01-01"}, "as_of", "use a day from 1900-01-01 to"),
    ],
    ids=["offset", "search", "as_of"],
)
def test_customer_list_invalid_message(
    web_client, api_headers, params, parameter, message
):
    response = web_client.get(
        "/api/v1/customers", params=params, headers=api_headers["viewer"]
    )
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert message in error["message"]


@pytest.mark.parametrize("as_of", ["0001-01-01", "1677-09-21", "9999-12-31"])
def test_customer_as_of_out_of_range(web_client, api_headers, as_of):
    response = web_client.get(
        "/api/v1/customers/c1", params={"as_of": as_of}, headers=api_headers["viewer"]
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "as_of"
    expected = f"Invalid as_of {as_of}: use a day from 1900-01-01 to 2200-12-31."
    assert error["message"] == expected


def test_customer_id_with_nul_not_found(web_client, api_headers):
    response = web_client.get("/api/v1/customers/c1%00", headers=api_headers["viewer"])
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["parameter"] == "customer_id"
    assert "Customer 'c1\\x00' not found" in error["message"]


def test_customer_unknown(web_client, api_headers):
    response = web_client.get("/api/v1/customers/c42", headers=api_headers["viewer"])
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["parameter"] == "customer_id"
    assert "Customer 'c42' not found" in error["message"]


@pytest.fixture
def manager_axis(web_client, api_headers):
    """A manual customer axis `manager`, created through the API."""
    response = web_client.post(
        "/api/v1/axes", json={"key": "manager"}, headers=api_headers["editor"]
    )
    assert response.status_code == 201
    return "manager"


def test_set_attribute(web_client, api_headers, manager_axis):
    editor = api_headers["editor"]
    response = web_client.put(
        "/api/v1/customers/c2/attributes/manager",
        json={"value": "Ann"},
        headers=editor,
    )
    assert response.status_code == 200
    assert response.json() == {
        "customer_id": "c2",
        "axis": "manager",
        "value": "Ann",
        "valid_from": None,
    }
    dated = web_client.put(
        "/api/v1/customers/c2/attributes/manager",
        json={"value": "Bob", "valid_from": "2025-03-01"},
        headers=editor,
    )
    assert dated.status_code == 200
    details = web_client.get(
        "/api/v1/customers/c2", params={"as_of": AS_OF}, headers=editor
    ).json()
    assert details["attributes"]["manager"] == "Bob"
    # c2's 50 of February counts for Ann, and March's for Bob.
    rows = web_client.get(
        "/api/v1/mrr",
        params={"as_of": AS_OF, "by": "manager", "to": "2025-03"},
        headers=editor,
    ).json()
    ends = {(row["period"], row["manager"]): row["mrr_end"] for row in rows}
    assert ends[("2025-02", "Ann")] == 50.0
    assert ends[("2025-03", "Bob")] == 50.0
    assert ends[("2025-03", "Ann")] == 0.0


def test_remove_attribute(web_client, api_headers, manager_axis):
    editor = api_headers["editor"]
    path = "/api/v1/customers/c1/attributes/manager"
    web_client.put(path, json={"value": "Ann"}, headers=editor)
    removed = web_client.put(path, json={"value": None}, headers=editor)
    assert removed.status_code == 200
    details = web_client.get("/api/v1/customers/c1", headers=editor).json()
    assert details["attributes"]["manager"] is None


@pytest.mark.parametrize(
    ("path", "body", "status", "parameter"),
    [
        ("/api/v1/customers/c1/attributes/channel", {"value": "x"}, 400, "axis"),
        ("/api/v1/customers/c1/attributes/country", {"value": "FR"}, 400, "axis"),
        ("/api/v1/customers/c1/attributes/nope", {"value": "x"}, 404, "axis"),
        (
            "/api/v1/customers/c42/attributes/manager",
            {"value": "x"},
            404,
            "customer_id",
        ),
        (
            "/api/v1/customers/c1/attributes/manager",
            {"value": "x", "valid_from": "soon"},
            422,
            "valid_from",
        ),
        ("/api/v1/customers/c1/attributes/manager", {}, 422, "value"),
    ],
    ids=["metadata", "native", "unknown-axis", "unknown-customer", "date", "no-value"],
)
def test_set_attribute_invalid(
    web_client, api_headers, manager_axis, path, body, status, parameter
):
    response = web_client.put(path, json=body, headers=api_headers["editor"])
    assert response.status_code == status
    assert response.json()["error"]["parameter"] == parameter


def test_set_attribute_on_non_manual_explains(web_client, api_headers):
    response = web_client.put(
        "/api/v1/customers/c1/attributes/channel",
        json={"value": "x"},
        headers=api_headers["editor"],
    )
    message = response.json()["error"]["message"]
    assert "is not a manual customer axis" in message
    assert "source metadata.channel" in message


def test_set_attribute_needs_editor(web_client, api_headers, manager_axis):
    response = web_client.put(
        "/api/v1/customers/c1/attributes/manager",
        json={"value": "Ann"},
        headers=api_headers["viewer"],
    )
    assert response.status_code == 403
    assert "needs the editor role" in response.json()["error"]["message"]
