"""The hotline's front door over real HTTP: Open311 GeoReport v2 against a real
``ledger serve``, signatures required. The documents are compared with the spec's own
examples (GeoReport v2 and the GeoReport Bulk draft, as pinned in docs/open311.md); each case
the hotline reports is signed by its registered intake key and ``ledger verify`` accepts it."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from ledger.application import GovernanceLedger
from tests.conftest import store_snapshot
from tests.open311kit import HOTLINE_POST, Hotline, hotline_town, report, run

pytestmark = pytest.mark.signed

# -- the spec's examples, as written on the GeoReport v2 page (values shortened) ----------------
SPEC_SERVICES_XML = """<?xml version="1.0" encoding="utf-8"?>
<services>
    <service>
        <service_code>001</service_code>
        <service_name>Cans left out 24x7</service_name>
        <description>Garbage or recycling cans that have been left out.</description>
        <metadata>true</metadata>
        <type>realtime</type>
        <keywords>lorem, ipsum, dolor</keywords>
        <group>sanitation</group>
    </service>
</services>"""
SPEC_DEFINITION_JSON = {
    "service_code": "DMV66",
    "attributes": [{"variable": True, "code": "WHISHETN", "datatype": "singlevaluelist",
                    "required": True, "datatype_description": None, "order": 1,
                    "description": "What is the ticket/tag/DL number?",
                    "values": [{"key": 123, "name": "Ford"}]}]}
SPEC_POST_JSON = [{"service_request_id": 293944, "service_notice": "The City will inspect "
                   "and require the responsible party to correct within 24 hours and/or issue "
                   "a Correction Notice or Notice of Violation of the Public Works Code",
                   "account_id": None}]
SPEC_REQUESTS_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
    <request>
        <service_request_id>638344</service_request_id>
        <status>closed</status>
        <status_notes>Duplicate request.</status_notes>
        <service_name>Sidewalk and Curb Issues</service_name>
        <service_code>006</service_code>
        <description></description>
        <agency_responsible></agency_responsible>
        <service_notice></service_notice>
        <requested_datetime>2010-04-14T06:37:38-08:00</requested_datetime>
        <updated_datetime>2010-04-14T06:37:38-08:00</updated_datetime>
        <expected_datetime>2010-04-15T06:37:38-08:00</expected_datetime>
        <address>8TH AVE and JUDAH ST</address>
        <address_id>545483</address_id>
        <zipcode>94122</zipcode>
        <lat>37.762221815</lat>
        <long>-122.4651145</long>
        <media_url>http://city.gov.s3.amazonaws.com/requests/media/638344.jpg</media_url>
    </request>
</service_requests>"""
SPEC_ERROR_XML = """<?xml version="1.0" encoding="utf-8"?>
<errors>
    <error>
        <code>403</code>
        <description>Invalid api_key received -- can't proceed with create_request.</description>
    </error>
</errors>"""
#: GeoReport Bulk draft: the CSV header of its example output.
SPEC_BULK_HEADER = ["service_request_id", "requested_datetime", "updated_datetime",
                    "closed_date", "status_description", "status_notes", "source",
                    "service_name", "service_subtype", "description", "agency_responsible",
                    "address", "lat", "long"]


def tags(element: ET.Element) -> set[str]:
    """Every element path under *element* (``service/service_code``...)."""
    out = set()
    for child in element:
        out.add(child.tag)
        out |= {f"{child.tag}/{t}" for t in tags(child)}
    return out


@pytest.fixture
def hotline(tmp_path: Path) -> Iterator[Hotline]:
    with hotline_town(tmp_path) as town:
        yield town


def test_discovery_and_services_follow_the_spec(hotline: Hotline) -> None:
    with hotline.client() as c:
        doc = c.get("/open311/v2/discovery.json", params={"api_key": "board-secret-1"}).json()
        assert set(doc) == {"changeset", "contact", "key_service", "endpoints"}
        [endpoint] = doc["endpoints"]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["formats"] == ["text/xml", "application/json"]
        assert endpoint["url"] == f"{hotline.url}/open311/v2/"
        xml = c.get("/open311/v2/discovery.xml", params={"api_key": "board-secret-1"})
        assert xml.headers["content-type"] == "text/xml; charset=utf-8"
        assert ET.fromstring(xml.content).find("endpoints/endpoint/formats/format") is not None

        # The hotline's own key lists services too (it needs no read scope for that).
        listed = c.get("/open311/v2/services.xml", params={"api_key": "hotline-api-key-1"})
        assert listed.status_code == 200 and listed.text.startswith('<?xml version="1.0"')
        ours, spec = ET.fromstring(listed.content), ET.fromstring(SPEC_SERVICES_XML)
        assert ours.tag == spec.tag == "services" and tags(ours) == tags(spec)
        names = {s.findtext("service_code"): s.findtext("service_name")
                 for s in ours.findall("service")}
        assert names == {"illegal_construction": "违法建筑", "group_renting": "群租",
                         "unlicensed_business": "无证经营", "other": "其他"}
        as_json = c.get("/open311/v2/services.json", params={"api_key": "board-secret-1"}).json()
        assert [s["service_code"] for s in as_json] == list(names)
        assert all(s["metadata"] is True and s["type"] == "realtime" for s in as_json)

        definition = c.get("/open311/v2/services/group_renting.json",
                           params={"api_key": "board-secret-1"}).json()
        assert set(definition) == set(SPEC_DEFINITION_JSON)
        spec_attr = set(SPEC_DEFINITION_JSON["attributes"][0])  # type: ignore[index]
        assert all(set(a) <= spec_attr for a in definition["attributes"])
        by_code = {a["code"]: a for a in definition["attributes"]}
        assert by_code["community"]["required"] is True
        assert by_code["community"]["values"] == [{"key": "ZQ-001", "name": "阳光花园"},
                                                  {"key": "ZQ-002", "name": "春申苑"}]
        assert "location" in by_code and "stage" in by_code
        xml_def = ET.fromstring(c.get("/open311/v2/services/group_renting.xml",
                                      params={"api_key": "board-secret-1"}).content)
        assert xml_def.tag == "service_definition"
        assert xml_def.find("attributes/attribute/values/value/key") is not None
        missing = c.get("/open311/v2/services/potholes.xml", params={"api_key": "board-secret-1"})
        assert missing.status_code == 404
        assert ET.fromstring(missing.content).findtext("error/code") == "404"


def test_the_hotline_reports_a_case_signed_by_its_intake_key(hotline: Hotline) -> None:
    with hotline.client() as c:
        # 1. A report, as the spec's POST example gives its fields.
        first = report(c)
        assert first.status_code == 201, first.text
        assert first.headers["content-type"] == "application/json; charset=utf-8"
        [created] = first.json()
        assert set(created) == set(SPEC_POST_JSON[0])
        ref = created["service_request_id"]
        assert ref.startswith(f"ZQ-{datetime.now().year}-")
        # 2. In XML, with the hotline's call id: a repeat of that call records nothing new.
        second = report(c, "xml", **{"attribute[call_id]": "12345-20261207-0042",
                                     "attribute[community]": "ZQ-002",
                                     "service_code": "unlicensed_business",
                                     "description": "小区门口占道经营"})
        assert second.status_code == 201
        root = ET.fromstring(second.content)
        assert root.tag == "service_requests"
        second_ref = root.findtext("request/service_request_id")
        assert second_ref and second_ref != ref
        with GovernanceLedger(hotline.db) as led:
            before = store_snapshot(led)
        again = report(c, "xml", **{"attribute[call_id]": "12345-20261207-0042",
                                    "attribute[community]": "ZQ-002",
                                    "service_code": "unlicensed_business",
                                    "description": "小区门口占道经营"})
        assert ET.fromstring(again.content).findtext("request/service_request_id") == second_ref
        with GovernanceLedger(hotline.db) as led:
            assert store_snapshot(led) == before

    # 3. The events are the hotline's, signed by its registered key; verify accepts them.
    actions = json.loads(run(hotline.db, "audit", "actor", "HL-12345", "--json").output)
    assert {a["command"] for a in actions} == {"case.receive"}
    assert {a["signed_by"] for a in actions} == {hotline.hotline_key_id}
    (hotline.tmp / "vk.txt").write_text(run(hotline.db, "key", "export").output.strip())
    checked = run(hotline.db, "verify", "--key", str(hotline.tmp / "vk.txt"),
                  "--require-signed")
    assert checked.exit_code == 0, checked.output
    # 4. The case is on the hotline channel, the caller's data sealed: no name or phone in
    #    the events, the answers or the access log; the email is not kept at all.
    with hotline.client() as c:
        events = c.get("/events?limit=1000", headers={"Authorization": "Bearer credit-secret-1"})
        received = [e for e in events.json()["events"] if e["type"] == "Case.Received"]
        assert [e["data"]["channel"] for e in received] == ["hotline", "hotline"]
        assert set(received[0]["data"]["caller"]) == {"subject", "nonce", "ciphertext"}
        listed = c.get("/open311/v2/requests.json", params={"api_key": "board-secret-1"})
    for text in (events.text, listed.text, hotline.log.read_text()):
        assert "13800001111" not in text and "张 明" not in text and "zhang@" not in text
    assert "hotline-api-key-1" not in hotline.log.read_text()
    access = [json.loads(x) for x in hotline.log.read_text().splitlines() if '"http.access"' in x]
    posts = [x for x in access if x["method"] == "POST"]
    assert [(x["route"], x["status"], x["token"]) for x in posts] == [
        ("/open311/v2/requests.{fmt}", 201, "hotline-12345")] * 3


def test_requests_are_listed_filtered_and_exported_as_the_spec_gives_them(
        hotline: Hotline) -> None:
    with hotline.client() as c:
        ref1 = report(c).json()[0]["service_request_id"]
        ref2 = report(c, **{"service_code": "illegal_construction",
                            "attribute[community]": "ZQ-002"}).json()[0]["service_request_id"]
    # The peace office rejects the first at intake: the request is closed.
    rejected = run(hotline.db, "case", "reject", ref1, "--reason", "重复来电，已合并处理",
                   "--actor", "HL-12345", "--post", HOTLINE_POST, key=hotline.hotline_key)
    assert rejected.exit_code == 0, rejected.output
    board = {"api_key": "board-secret-1"}
    with hotline.client() as c:
        listed = c.get("/open311/v2/requests.xml", params=board)
        root, spec = ET.fromstring(listed.content), ET.fromstring(SPEC_REQUESTS_XML)
        assert root.tag == "service_requests"
        assert tags(spec) <= tags(root)  # every field of the spec's example, and
        assert tags(root) - tags(spec) == {"request/status_description"}  # the Bulk draft's
        by_id = {r.findtext("service_request_id"): r for r in root.findall("request")}
        assert set(by_id) == {ref1, ref2}
        assert by_id[ref1].findtext("status") == "closed"
        assert by_id[ref1].findtext("status_description") == "rejected"
        assert by_id[ref2].findtext("status") == "open"
        assert by_id[ref2].findtext("status_description") == "received"
        assert by_id[ref2].findtext("address") == "3号楼502室，春申苑"
        requested = by_id[ref2].findtext("requested_datetime") or ""
        assert datetime.fromisoformat(requested).tzinfo is not None  # the zone, as required

        def ids(**params: str) -> list[str]:
            r = c.get("/open311/v2/requests.json", params={**board, **params})
            assert r.status_code == 200, r.text
            return sorted(x["service_request_id"] for x in r.json())

        assert ids(status="open") == [ref2]
        assert ids(status="closed") == [ref1]
        assert ids(status="open,closed") == sorted([ref1, ref2])
        assert ids(service_code="illegal_construction") == [ref2]
        assert ids(service_code="group_renting,illegal_construction") == sorted([ref1, ref2])
        assert ids(service_request_id=ref1) == [ref1]
        assert ids(start_date="2100-01-01T00:00:00Z") == []
        assert ids(end_date="2000-01-01T00:00:00+08:00") == []
        one = c.get(f"/open311/v2/requests/{ref2}.json", params=board).json()
        assert [x["service_request_id"] for x in one] == [ref2]
        assert one[0]["service_name"] == "违法建筑" and one[0]["address_id"] == "ZQ-002"

        bulk = c.get("/open311/v2/bulk/requests.csv", params=board)
        assert bulk.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(bulk.text)))
        assert rows[0] == SPEC_BULK_HEADER
        got = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
        assert got[ref1]["status_description"] == "rejected" and got[ref1]["closed_date"]
        assert got[ref2]["status_description"] == "received" and not got[ref2]["closed_date"]
        assert {r["source"] for r in got.values()} == {"hotline"}


def test_a_refused_report_answers_in_the_spec_error_format_and_writes_nothing(
        hotline: Hotline) -> None:
    with GovernanceLedger(hotline.db) as led:
        before = store_snapshot(led)
    with hotline.client() as c:
        cases = [
            ({"api_key": "not-a-key"}, "json", 403, "api_key"),
            ({"api_key": "credit-secret-1"}, "json", 403, "write:intake"),
            ({"api_key": "board-secret-1"}, "xml", 403, "write:intake"),
            ({"service_code": "potholes"}, "json", 400, "service_code"),
            ({"attribute[community]": ""}, "json", 400, "attribute[community]"),
            ({"attribute[community]": "ZQ-404"}, "json", 404, "ZQ-404"),
            ({"description": ""}, "xml", 400, "description"),
            ({"phone": "call me maybe"}, "json", 422, "phone"),
            ({"attribute[stage]": "whenever"}, "json", 422, "stage"),
            ({}, "html", 400, "fmt"),
        ]
        for fields, fmt, status, says in cases:
            r = report(c, fmt, **fields)
            assert r.status_code == status, (fields, r.text)
            if fmt == "xml":
                root = ET.fromstring(r.content)
                assert tags(root) == tags(ET.fromstring(SPEC_ERROR_XML))
                assert root.findtext("error/code") == str(status)
                assert says in (root.findtext("error/description") or "")
            else:
                [error] = r.json()
                assert error["code"] == status and says in error["description"], r.text
        # No api_key at all, and a form too large to be a report.
        assert c.post("/open311/v2/requests.json", data={"service_code": "other"}).status_code == 403
        big = c.post("/open311/v2/requests.json",
                     content=b"api_key=hotline-api-key-1&description=" + b"x" * 20_000,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413 and big.json()[0]["code"] == 413
        # Reading requests needs read:cases; the reader of events gets the spec's 403.
        r = c.get("/open311/v2/requests.json", params={"api_key": "credit-secret-1"})
        assert r.status_code == 403 and r.json()[0]["code"] == 403
        assert c.get("/open311/v2/requests.json").status_code == 401
        bad_date = c.get("/open311/v2/requests.json",
                         params={"api_key": "board-secret-1", "start_date": "yesterday"})
        assert bad_date.status_code == 400 and "start_date" in bad_date.json()[0]["description"]
        none = c.get("/open311/v2/requests/ZQ-2026-999999.xml",
                     params={"api_key": "board-secret-1"})
        assert none.status_code == 404 and ET.fromstring(none.content).tag == "errors"
    with GovernanceLedger(hotline.db) as led:
        assert store_snapshot(led) == before
