"""The CRM emulators' vendor rules, exercised over HTTPS with requests (and the vendors' own clients)."""
from __future__ import annotations

import pytest
import requests

from tests.emulators import hubspot as hs_emu
from tests.emulators import salesforce as sf_emu
from tests.emulators.server import EmulatorServer
from tests.emulators.tls import make_test_ca

V = "/services/data/v59.0"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca, cert, key = make_test_ca(tmp_path_factory.mktemp("emulator-tls"))
    return str(ca), str(cert), str(key)


class Client:
    """requests against one emulator server, with its token and the test CA."""

    def __init__(self, server: EmulatorServer, ca: str, token: str):
        self.server, self.emu = server, server.app
        self.ca = ca
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, body=None, **params) -> requests.Response:
        return self.session.request(method, self.server.url + path, json=body, params=params or None, timeout=5,
                                    verify=self.ca)


@pytest.fixture
def sf(tls):
    server = EmulatorServer(sf_emu.SalesforceEmulator(), tls[1], tls[2]).start()
    yield Client(server, tls[0], sf_emu.TOKEN)
    server.stop()


@pytest.fixture
def hs(tls):
    server = EmulatorServer(hs_emu.HubSpotEmulator(), tls[1], tls[2]).start()
    yield Client(server, tls[0], hs_emu.TOKEN)
    server.stop()


def sf_query(sf, soql: str, resource: str = "query") -> list[dict]:
    answer = sf("GET", f"{V}/{resource}", q=soql)
    assert answer.status_code == 200, answer.text
    return answer.json()["records"]


def custom_field(sf, full_name: str, **meta) -> None:
    """A Text custom field made through the Tooling API, readable through an assigned permission set."""
    body = {"FullName": full_name, "Metadata": {"type": "Text", "label": full_name, "length": 80, **meta}}
    assert sf("POST", f"{V}/tooling/sobjects/CustomField", body).status_code == 201
    obj = full_name.split(".")[0]
    emu = sf.emu
    perm_set = emu.insert("PermissionSet", {"Name": "emu", "Label": "emu"})
    emu.insert("FieldPermissions", {"ParentId": perm_set, "SobjectType": obj, "Field": full_name,
                                    "PermissionsRead": True, "PermissionsEdit": True})
    emu.insert("PermissionSetAssignment", {"AssigneeId": sf_emu.USER_ID, "PermissionSetId": perm_set})


# --- Salesforce: creates
@pytest.mark.parametrize("obj, body, status, code, fields", [
    ("Lead", {"Company": "Acme"}, 400, "REQUIRED_FIELD_MISSING", ["LastName"]),
    ("Lead", {"LastName": "Ng"}, 400, "REQUIRED_FIELD_MISSING", ["Company"]),
    ("Lead", {"Email": "a@b.c"}, 400, "REQUIRED_FIELD_MISSING", ["LastName", "Company"]),
    ("Lead", {"LastName": "x" * 81, "Company": "Acme"}, 400, "STRING_TOO_LONG", ["LastName"]),
    ("Lead", {"LastName": "Ng", "Company": "Acme", "IsConverted": True}, 400, "INVALID_FIELD_FOR_INSERT_UPDATE",
     ["IsConverted"]),
    ("Lead", {"LastName": "Ng", "Company": "Acme"}, 201, None, None),
    ("Contact", {"FirstName": "Ann"}, 400, "REQUIRED_FIELD_MISSING", ["LastName"]),
    ("Contact", {"LastName": "Ng", "FirstName": "y" * 41}, 400, "STRING_TOO_LONG", ["FirstName"]),
    ("Contact", {"LastName": "Ng"}, 201, None, None),
    ("Account", {"Website": "acme.com"}, 400, "REQUIRED_FIELD_MISSING", ["Name"]),
])
def test_salesforce_create_rules(sf, obj, body, status, code, fields):
    answer = sf("POST", f"{V}/sobjects/{obj}", body)
    assert answer.status_code == status, answer.text
    if code:
        assert answer.json() == [{"message": answer.json()[0]["message"], "errorCode": code, "fields": fields}]
    else:
        assert answer.json()["success"] and len(answer.json()["id"]) == 18
    if code == "REQUIRED_FIELD_MISSING" and fields == ["LastName"] and obj == "Lead":
        assert answer.json()[0]["message"] == "Required fields are missing: [LastName]"


def test_salesforce_ids_are_case_safe_18_characters(sf):
    lead = sf("POST", f"{V}/sobjects/Lead", {"LastName": "Ng", "Company": "Acme"}).json()["id"]
    assert lead.startswith("00Q") and sf_emu.id18(lead[:15]) == lead and lead[15:] != "AAA"
    assert sf("GET", f"{V}/sobjects/Lead/{lead[:15]}").json()["Id"] == lead


def test_salesforce_collection_create_per_record_and_all_or_none(sf):
    records = [{"attributes": {"type": "Lead"}, "LastName": "Ok", "Company": "A"},
               {"attributes": {"type": "Lead"}, "Company": "B"},
               {"attributes": {"type": "Contact"}, "LastName": "Ok"}]
    results = sf("POST", f"{V}/composite/sobjects", {"allOrNone": False, "records": records}).json()
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[1]["errors"][0]["fields"] == ["LastName"]
    before = len(sf.emu.records["Lead"])
    results = sf("POST", f"{V}/composite/sobjects", {"allOrNone": True, "records": records}).json()
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert len(sf.emu.records["Lead"]) == before
    too_many = sf("POST", f"{V}/composite/sobjects", {"records": records * 67})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


# --- Salesforce: upsert by external ID
@pytest.fixture
def ext(sf):
    custom_field(sf, "Lead.Ext_Id__c", externalId=True, unique=True)
    custom_field(sf, "Lead.Loose_Key__c", externalId=True)
    custom_field(sf, "Lead.Plain__c")
    return sf


def test_salesforce_upsert_creates_then_updates(ext):
    created = ext("PATCH", f"{V}/sobjects/Lead/Ext_Id__c/K-1", {"LastName": "Ng", "Company": "Acme"})
    assert created.status_code == 201 and created.json()["created"] is True and created.json()["success"]
    updated = ext("PATCH", f"{V}/sobjects/Lead/Ext_Id__c/k-1", {"Title": "CTO"})  # text matching ignores case
    assert updated.status_code == 200 and updated.json() == {"id": created.json()["id"], "success": True,
                                                             "errors": [], "created": False}
    old_api = ext("PATCH", "/services/data/v45.0/sobjects/Lead/Ext_Id__c/K-1", {"Title": "CEO"})
    assert old_api.status_code == 204
    assert sf_query(ext, "SELECT Title FROM Lead WHERE Ext_Id__c = 'K-1'")[0]["Title"] == "CEO"
    missing = ext("PATCH", f"{V}/sobjects/Lead/Ext_Id__c/K-2", {"Title": "x"})  # a create: required fields apply
    assert missing.status_code == 400 and missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    only = ext("PATCH", f"{V}/sobjects/Lead/Ext_Id__c/K-3?updateOnly=true", {"LastName": "a", "Company": "b"})
    assert only.status_code == 404


@pytest.mark.parametrize("field, status, code", [
    ("Nope__c", 404, "NOT_FOUND"), ("Plain__c", 400, "INVALID_FIELD"), ("Email", 400, "INVALID_FIELD")])
def test_salesforce_upsert_needs_an_external_id_field(ext, field, status, code):
    answer = ext("PATCH", f"{V}/sobjects/Lead/{field}/v1", {"LastName": "Ng", "Company": "Acme"})
    assert answer.status_code == status and answer.json()[0]["errorCode"] == code


def test_salesforce_upsert_with_several_matches_is_300(ext):
    for name in ("a", "b"):
        ext.emu.insert("Lead", {"LastName": name, "Company": "c", "Loose_Key__c": "dup"})
    answer = ext("PATCH", f"{V}/sobjects/Lead/Loose_Key__c/dup", {"Title": "x"})
    assert answer.status_code == 300 and len(answer.json()) == 2
    assert all(url.startswith(f"{V}/sobjects/Lead/00Q") for url in answer.json())


def test_salesforce_unique_field_refuses_duplicates(ext):
    assert ext("POST", f"{V}/sobjects/Lead", {"LastName": "a", "Company": "c", "Ext_Id__c": "U"}).status_code == 201
    answer = ext("POST", f"{V}/sobjects/Lead", {"LastName": "b", "Company": "c", "Ext_Id__c": "u"})
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "DUPLICATE_VALUE"


def test_salesforce_collection_upsert(ext):
    existing = ext.emu.insert("Lead", {"LastName": "Old", "Company": "c", "Ext_Id__c": "E1"})
    records = [{"attributes": {"type": "Lead"}, "Ext_Id__c": "E1", "Title": "VP"},
               {"attributes": {"type": "Lead"}, "Ext_Id__c": "E2", "LastName": "New", "Company": "c"},
               {"attributes": {"type": "Lead"}, "Ext_Id__c": "E3"},
               {"attributes": {"type": "Lead"}, "Ext_Id__c": "E4", "LastName": "x", "Company": "c"},
               {"attributes": {"type": "Lead"}, "Ext_Id__c": "E4", "LastName": "y", "Company": "c"}]
    results = ext("PATCH", f"{V}/composite/sobjects/Lead/Ext_Id__c", {"allOrNone": False, "records": records}).json()
    assert results[0] == {"id": existing, "success": True, "errors": [], "created": False}
    assert results[1]["success"] and results[1]["created"] is True
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert [r["errors"][0]["statusCode"] for r in results[3:]] == ["DUPLICATE_EXTERNAL_ID"] * 2
    assert set(results[0]) == {"id", "success", "errors", "created"}
    bad = ext("PATCH", f"{V}/composite/sobjects/Lead/Plain__c", {"records": records[:1]})
    assert bad.status_code == 400
    too_many = ext("PATCH", f"{V}/composite/sobjects/Lead/Ext_Id__c", {"records": records[:1] * 201})
    assert too_many.status_code == 400


# --- Salesforce: conversion, merge, delete
def test_salesforce_lead_conversion(sf):
    lead = sf("POST", f"{V}/sobjects/Lead", {"LastName": "Ng", "Company": "Acme", "Email": "ng@acme.com"}).json()["id"]
    task = sf("POST", f"{V}/sobjects/Task", {"Subject": "Call", "Status": "Not Started", "WhoId": lead}).json()["id"]
    before = sf_query(sf, f"SELECT SystemModstamp FROM Lead WHERE Id = '{lead}'")[0]["SystemModstamp"]
    sf.emu.advance(2)
    made = sf.emu.convert_lead(lead)
    row = sf_query(sf, "SELECT Id, IsConverted, ConvertedContactId, ConvertedAccountId, ConvertedDate, "
                       f"SystemModstamp FROM Lead WHERE Id = '{lead}'")[0]
    assert row["IsConverted"] is True and row["ConvertedContactId"] == made["contactId"]
    assert row["ConvertedAccountId"] == made["accountId"] and row["ConvertedDate"] and row["SystemModstamp"] > before
    contact = sf_query(sf, f"SELECT Email, AccountId FROM Contact WHERE Id = '{made['contactId']}'")[0]
    assert contact == {"attributes": {"type": "Contact"}, "Email": "ng@acme.com", "AccountId": made["accountId"]}
    assert sf_query(sf, f"SELECT WhoId FROM Task WHERE Id = '{task}'")[0]["WhoId"] == made["contactId"]
    refused = sf("PATCH", f"{V}/sobjects/Lead/{lead}", {"Title": "CTO"})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    on_task = sf("POST", f"{V}/sobjects/Task", {"Subject": "x", "Status": "Not Started", "WhoId": lead})
    assert on_task.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    with pytest.raises(ValueError):
        sf.emu.convert_lead(lead)
    other = sf.emu.insert("Lead", {"LastName": "B", "Company": "Acme"})
    assert sf.emu.convert_lead(other, account_id=made["accountId"])["accountId"] == made["accountId"]


def test_salesforce_merge_and_query_all(sf):
    ids = [sf.emu.insert("Contact", {"LastName": f"c{i}", "Email": "same@x.com"}) for i in range(3)]
    task = sf.emu.insert("Task", {"Subject": "s", "Status": "Open", "WhoId": ids[2]})
    sf.emu.merge("Contact", ids[0], ids[1:])
    assert [r["Id"] for r in sf_query(sf, "SELECT Id FROM Contact")] == [ids[0]]
    everything = sf_query(sf, "SELECT Id, IsDeleted, MasterRecordId FROM Contact ORDER BY Id", "queryAll")
    assert [(r["Id"], r["IsDeleted"], r["MasterRecordId"]) for r in everything] == [
        (ids[0], False, None), (ids[1], True, ids[0]), (ids[2], True, ids[0])]
    assert sf_query(sf, f"SELECT WhoId FROM Task WHERE Id = '{task}'")[0]["WhoId"] == ids[0]
    with pytest.raises(ValueError):
        sf.emu.merge("Contact", ids[0], ids[1:2])  # already merged away
    with pytest.raises(ValueError):
        sf.emu.merge("Task", task, [task])


def test_salesforce_delete_recycle_bin_and_get_deleted(sf):
    start = sf_emu.stamp(sf.emu.clock).replace(".000+0000", "Z")
    account = sf.emu.insert("Account", {"Name": "Acme"})
    contact = sf.emu.insert("Contact", {"LastName": "Ng", "AccountId": account})
    assert sf("DELETE", f"{V}/sobjects/Account/{account}").status_code == 204
    again = sf("DELETE", f"{V}/sobjects/Account/{account}")
    assert again.status_code == 404 and again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert sf_query(sf, "SELECT Id FROM Contact") == []  # the account's contacts went with it
    assert sf_query(sf, "SELECT Id, IsDeleted FROM Contact", "queryAll")[0]["IsDeleted"] is True
    assert sf("GET", f"{V}/sobjects/Contact/{contact}").json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    patch = sf("PATCH", f"{V}/sobjects/Contact/{contact}", {"Title": "x"})
    assert patch.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    sf.emu.advance(120)
    end = sf_emu.stamp(sf.emu.clock).replace(".000+0000", "Z")
    answer = sf("GET", f"{V}/sobjects/Contact/deleted/", start=start, end=end)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["id"] for r in body["deletedRecords"]] == [contact]
    assert body["latestDateCovered"].endswith(":00.000+0000") and body["earliestDateAvailable"] < start
    bad = sf("GET", f"{V}/sobjects/Contact/deleted/", start=end, end=start)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


# --- Salesforce: Task WhoId / WhatId
@pytest.fixture
def people(sf):
    emu = sf.emu
    ids = {"lead": emu.insert("Lead", {"LastName": "L", "Company": "C"}),
           "contact": emu.insert("Contact", {"LastName": "C"}), "account": emu.insert("Account", {"Name": "A"}),
           "gone": emu.insert("Contact", {"LastName": "G"})}
    emu.delete(ids["gone"])
    return ids


@pytest.mark.parametrize("who, what, code, fields", [
    ("lead", None, None, None),
    ("contact", "account", None, None),
    (None, "account", None, None),
    ("account", None, "FIELD_INTEGRITY_EXCEPTION", ["WhoId"]),
    ("contact", "lead", "FIELD_INTEGRITY_EXCEPTION", ["WhatId"]),
    ("lead", "account", "FIELD_INTEGRITY_EXCEPTION", ["WhoId", "WhatId"]),
    ("gone", None, "ENTITY_IS_DELETED", ["WhoId"]),
    ("003000000000999", None, "INVALID_CROSS_REFERENCE_KEY", ["WhoId"]),
    ("not-an-id", None, "MALFORMED_ID", ["WhoId"]),
])
def test_salesforce_task_links(sf, people, who, what, code, fields):
    body = {"Subject": "Call", "Status": "Not Started"}
    for key, name in (("WhoId", who), ("WhatId", what)):
        if name:
            body[key] = people.get(name, name)
    answer = sf("POST", f"{V}/sobjects/Task", body)
    if code is None:
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 400 and answer.json()[0]["errorCode"] == code
        assert answer.json()[0]["fields"] == fields


def test_salesforce_task_update_keeps_the_rules(sf, people):
    task = sf("POST", f"{V}/sobjects/Task", {"Subject": "s", "Status": "Open", "WhoId": people["lead"]}).json()["id"]
    answer = sf("PATCH", f"{V}/sobjects/Task/{task}", {"WhatId": people["account"]})
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


# --- Salesforce: SOQL for keyset paging
def test_salesforce_keyset_paging_query(sf):
    ids = [sf.emu.insert("Lead", {"LastName": f"l{i}", "Company": "c"}) for i in range(7)]
    rows = sf_query(sf, "SELECT Id, SystemModstamp FROM Lead ORDER BY SystemModstamp, Id")
    assert [r["Id"] for r in rows] == ids  # one second, so Id breaks the tie
    seen, mark, last = [], "2000-01-01T00:00:00Z", "000000000000000"
    while True:
        page = sf_query(sf, f"SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp > {mark} OR "
                            f"(SystemModstamp = {mark} AND Id > '{last}') ORDER BY SystemModstamp, Id LIMIT 3")
        if not page:
            break
        seen += [r["Id"] for r in page]
        mark, last = page[-1]["SystemModstamp"].replace(".000+0000", "Z"), page[-1]["Id"]
    assert seen == ids


@pytest.mark.parametrize("soql", [
    "SELECT Id FROM Lead WHERE LastName = 'a' AND Company = 'b' OR Title = 'c'",
    "SELECT Id FROM Lead WHERE (LastName = 'a'",
    "SELECT Id FROM Lead WHERE LastName = ",
    "SELECT Id FROM Lead ORDER BY LastName SIDEWAYS",
])
def test_salesforce_malformed_soql(sf, soql):
    answer = sf("GET", f"{V}/query", q=soql)
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_salesforce_soql_nulls_and_directions(sf):
    a = sf.emu.insert("Lead", {"LastName": "a", "Company": "c", "Title": "Z"})
    b = sf.emu.insert("Lead", {"LastName": "b", "Company": "c"})
    c = sf.emu.insert("Lead", {"LastName": "c", "Company": "c", "Title": "A"})
    order = lambda q: [r["Id"] for r in sf_query(sf, f"SELECT Id FROM Lead ORDER BY {q}")]  # noqa: E731
    assert order("Title") == [b, c, a] and order("Title DESC") == [a, c, b]
    assert order("Title ASC NULLS LAST") == [c, a, b]
    rows = sf_query(sf, f"SELECT Id FROM Lead WHERE Title = 'Z' OR (Title = null AND Id IN ('{b}', '{c}'))")
    assert [r["Id"] for r in rows] == [a, b]


def test_salesforce_with_simple_salesforce(sf, tls):
    from simple_salesforce import Salesforce
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides the session's CA
    session.verify = tls[0]
    client = Salesforce(instance_url=sf.server.url, session_id=sf_emu.TOKEN, session=session, version="59.0")
    created = client.Lead.create({"LastName": "Ng", "Company": "Acme"})
    assert created["success"]
    assert client.query_all("SELECT Id, IsDeleted FROM Lead")["records"][0]["IsDeleted"] is False
    client.Lead.delete(created["id"])
    assert client.query_all("SELECT Id FROM Lead")["totalSize"] == 0
    assert client.query_all("SELECT Id FROM Lead", include_deleted=True)["totalSize"] == 1


# --- HubSpot
C = "/crm/v3/objects"
DUE = "2026-09-22T09:00:00.000Z"


def hs_unique_property(hs, object_type: str, name: str) -> None:
    assert hs("POST", f"/crm/v3/properties/{object_type}/groups", {"name": "emu", "label": "Emu"}).status_code == 201
    prop = {"name": name, "label": name, "type": "string", "fieldType": "text", "groupName": "emu",
            "hasUniqueValue": True}
    answer = hs("POST", f"/crm/v3/properties/{object_type}", prop)
    assert answer.status_code == 201 and answer.json()["hasUniqueValue"] is True


def test_hubspot_contact_email_is_unique(hs):
    first = hs("POST", f"{C}/contacts", {"properties": {"email": "ann@acme.com"}})
    assert first.status_code == 201
    again = hs("POST", f"{C}/contacts", {"properties": {"email": "ANN@acme.com"}})
    assert again.status_code == 409 and again.json()["category"] == "CONFLICT"
    assert again.json()["message"] == f"Contact already exists. Existing ID: {first.json()['id']}"
    other = hs("POST", f"{C}/contacts", {"properties": {"email": "bob@acme.com"}}).json()["id"]
    moved = hs("PATCH", f"{C}/contacts/{other}", {"properties": {"email": "ann@acme.com"}})
    assert moved.status_code == 409
    batch = hs("POST", f"{C}/contacts/batch/create", {"inputs": [{"properties": {"email": "c@x.com"}},
                                                                  {"properties": {"email": "C@x.com"}}]})
    assert batch.status_code == 409 and len(hs.emu.objects["contacts"]) == 2
    made = hs("POST", f"{C}/contacts/batch/create", {"inputs": [{"properties": {"email": f"p{i}@x.com"}}
                                                                 for i in range(3)]})
    assert made.status_code == 201 and len(made.json()["results"]) == 3
    too_many = hs("POST", f"{C}/contacts/batch/create", {"inputs": [{"properties": {}}] * 101})
    assert too_many.status_code == 400
    read_only = hs("POST", f"{C}/contacts", {"properties": {"hs_object_id": "5"}})
    assert read_only.status_code == 400


def test_hubspot_batch_upsert(hs):
    existing = hs.emu.insert("contacts", {"email": "ann@acme.com", "jobtitle": "Eng"})
    answer = hs("POST", f"{C}/contacts/batch/upsert", {"inputs": [
        {"idProperty": "email", "id": "Ann@acme.com", "properties": {"jobtitle": "VP"}},
        {"idProperty": "email", "id": "new@acme.com", "properties": {"jobtitle": "CTO"}}]})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["id"] == existing, r["new"]) for r in results] == [(True, False), (False, True)]
    assert hs.emu.objects["contacts"][existing]["properties"]["jobtitle"] == "VP"
    assert results[1]["properties"]["email"] == "new@acme.com"
    for bad in ([{"idProperty": "jobtitle", "id": "x", "properties": {}}],
                [{"idProperty": "email", "id": "a@b.c", "properties": {}}] * 2):
        assert hs("POST", f"{C}/contacts/batch/upsert", {"inputs": bad}).status_code == 400


def test_hubspot_task_unique_key_and_upsert(hs):
    hs_unique_property(hs, "tasks", "idem_key")
    body = {"properties": {"hs_timestamp": DUE, "hs_task_subject": "Call", "idem_key": "k1"}}
    first = hs("POST", f"{C}/tasks", body)
    assert first.status_code == 201
    again = hs("POST", f"{C}/tasks", body)
    assert again.status_code == 409 and again.json()["category"] == "CONFLICT"
    assert hs("POST", f"{C}/tasks", {"properties": {"hs_task_subject": "x"}}).status_code == 400  # no hs_timestamp
    answer = hs("POST", f"{C}/tasks/batch/upsert", {"inputs": [
        {"idProperty": "idem_key", "id": "k1", "properties": {"hs_task_subject": "Call again"}},
        {"idProperty": "idem_key", "id": "k2", "properties": {"hs_timestamp": DUE, "hs_task_subject": "New"}}]})
    assert [r["new"] for r in answer.json()["results"]] == [False, True]
    assert answer.json()["results"][0]["id"] == first.json()["id"]
    missing_due = hs("POST", f"{C}/tasks/batch/upsert", {"inputs": [
        {"idProperty": "idem_key", "id": "k3", "properties": {"hs_task_subject": "x"}}]})
    assert missing_due.status_code == 400


@pytest.fixture
def crm(hs):
    emu = hs.emu
    return {"contact": emu.insert("contacts", {"email": "ann@acme.com"}), "company": emu.insert("companies", {"name": "A"}),
            "deal": emu.insert("deals", {"dealname": "D"})}


@pytest.mark.parametrize("target, type_id, ok", [
    ("contact", 204, True), ("company", 192, True), ("deal", 216, True),
    ("company", 204, False), ("contact", 192, False), ("contact", 279, False), ("deal", 204, False),
    ("contact", 999, False)])
def test_hubspot_task_association_types(hs, crm, target, type_id, ok):
    body = {"properties": {"hs_timestamp": DUE}, "associations": [
        {"to": {"id": crm[target]}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                               "associationTypeId": type_id}]}]}
    answer = hs("POST", f"{C}/tasks", body)
    assert answer.status_code == (201 if ok else 400), answer.text
    if not ok:
        assert hs.emu.objects["tasks"] == {}


def test_hubspot_where_a_task_landed(hs, crm):
    body = {"properties": {"hs_timestamp": DUE}, "associations": [
        {"to": {"id": crm["contact"]}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]},
        {"to": {"id": crm["company"]}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}]}
    task = hs("POST", f"{C}/tasks", body).json()["id"]
    got = hs("GET", f"{C}/tasks/{task}", associations="contacts,companies,deals").json()["associations"]
    assert got == {"contacts": {"results": [{"id": crm["contact"], "type": "task_to_contact"}]},
                   "companies": {"results": [{"id": crm["company"], "type": "task_to_company"}]}}
    back = hs("GET", f"{C}/contacts/{crm['contact']}", associations="tasks").json()["associations"]
    assert back == {"tasks": {"results": [{"id": task, "type": "contact_to_task"}]}}


def test_hubspot_v4_default_association(hs, crm):
    path = f"/crm/v4/objects/contacts/{crm['contact']}/associations/default/companies/{crm['company']}"
    answer = hs("PUT", path)
    assert answer.status_code == 200
    assert {r["associationSpec"]["associationTypeId"] for r in answer.json()["results"]} == {279, 280}
    listed = hs("GET", f"/crm/v4/objects/companies/{crm['company']}/associations/contacts").json()["results"]
    assert listed == [{"toObjectId": int(crm["contact"]), "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None}]}]
    wrong = hs("PUT", f"/crm/v4/objects/contacts/{crm['contact']}/associations/default/companies/{crm['deal']}")
    assert wrong.status_code == 400
    labelled = hs("PUT", f"/crm/v4/objects/contacts/{crm['contact']}/associations/companies/{crm['company']}",
                  [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}])
    assert labelled.status_code == 201
    wrong_label = hs("PUT", f"/crm/v4/objects/contacts/{crm['contact']}/associations/companies/{crm['company']}",
                     [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 280}])
    assert wrong_label.status_code == 400


def search(hs, object_type: str, body: dict) -> requests.Response:
    return hs("POST", f"{C}/{object_type}/search", body)


def test_hubspot_search_lag(tls):
    server = EmulatorServer(hs_emu.HubSpotEmulator(search_lag_seconds=30), tls[1], tls[2]).start()
    try:
        hs = Client(server, tls[0], hs_emu.TOKEN)
        made = hs("POST", f"{C}/contacts", {"properties": {"email": "ann@acme.com", "jobtitle": "Eng"}}).json()["id"]
        assert search(hs, "contacts", {}).json()["total"] == 0
        assert hs("GET", f"{C}/contacts/{made}").status_code == 200
        assert len(hs("POST", f"{C}/contacts/batch/read", {"inputs": [{"id": made}]}).json()["results"]) == 1
        hs.emu.reindex()
        assert search(hs, "contacts", {}).json()["total"] == 1
        hs("PATCH", f"{C}/contacts/{made}", {"properties": {"jobtitle": "VP"}})
        body = {"properties": ["jobtitle"], "filterGroups": [{"filters": [
            {"propertyName": "jobtitle", "operator": "EQ", "value": "VP"}]}]}
        assert search(hs, "contacts", body).json()["total"] == 0  # the index still has the old value
        stale = search(hs, "contacts", {"properties": ["jobtitle"]}).json()["results"][0]
        assert stale["properties"]["jobtitle"] == "Eng"
        hs.emu.reindex()
        assert search(hs, "contacts", body).json()["total"] == 1
    finally:
        server.stop()


def test_hubspot_search_lag_expires(tls):
    emu = hs_emu.HubSpotEmulator(search_lag_seconds=0.2)
    server = EmulatorServer(emu, tls[1], tls[2]).start()
    try:
        hs = Client(server, tls[0], hs_emu.TOKEN)
        hs("POST", f"{C}/contacts", {"properties": {"email": "ann@acme.com"}})
        assert search(hs, "contacts", {}).json()["total"] == 0
        import time
        time.sleep(0.3)
        assert search(hs, "contacts", {}).json()["total"] == 1
    finally:
        server.stop()


@pytest.mark.parametrize("merge_new_id", [True, False])
def test_hubspot_merge(tls, merge_new_id):
    server = EmulatorServer(hs_emu.HubSpotEmulator(merge_new_id=merge_new_id), tls[1], tls[2]).start()
    try:
        hs = Client(server, tls[0], hs_emu.TOKEN)
        a = hs.emu.insert("contacts", {"email": "ann@acme.com", "jobtitle": "VP"})
        b = hs.emu.insert("contacts", {"email": "ann@gmail.com", "country": "US", "jobtitle": "Eng"})
        company = hs.emu.insert("companies", {"name": "Acme"})
        hs("PUT", f"/crm/v4/objects/contacts/{b}/associations/default/companies/{company}")
        merged = hs("POST", f"{C}/contacts/merge", {"primaryObjectId": a, "objectIdToMerge": b})
        assert merged.status_code == 200, merged.text
        survivor = merged.json()
        assert (survivor["id"] == a) is not merge_new_id
        props = survivor["properties"]
        assert props["email"] == "ann@acme.com" and props["jobtitle"] == "VP" and props["country"] == "US"
        want = {a, b} - {survivor["id"]}
        assert set(props["hs_merged_object_ids"].split(";")) == want
        for old in (a, b):
            assert hs("GET", f"{C}/contacts/{old}").json()["id"] == survivor["id"]
        found = search(hs, "contacts", {"properties": ["hs_merged_object_ids"]}).json()["results"]
        assert [r["id"] for r in found] == [survivor["id"]]
        assert set(found[0]["properties"]["hs_merged_object_ids"].split(";")) == want
        assoc = hs("GET", f"{C}/contacts/{survivor['id']}", associations="companies").json()["associations"]
        assert assoc["companies"]["results"][0]["id"] == company
        assert hs("POST", f"{C}/contacts", {"properties": {"email": "ann@acme.com"}}).status_code == 409
        self_merge = hs("POST", f"{C}/contacts/merge", {"primaryObjectId": a, "objectIdToMerge": b})
        assert self_merge.status_code == 400
    finally:
        server.stop()


def test_hubspot_archive(hs):
    made = hs.emu.insert("contacts", {"email": "ann@acme.com"})
    assert hs("DELETE", f"{C}/contacts/{made}").status_code == 204
    assert hs("GET", f"{C}/contacts/{made}").status_code == 404
    archived = hs("GET", f"{C}/contacts/{made}", archived="true").json()
    assert archived["archived"] is True and archived["archivedAt"]
    assert search(hs, "contacts", {}).json()["total"] == 0
    assert hs("PATCH", f"{C}/contacts/{made}", {"properties": {"jobtitle": "x"}}).status_code == 404
    assert hs("POST", f"{C}/contacts/batch/read", {"inputs": [{"id": made}]}).json()["results"] == []
    assert hs("POST", f"{C}/contacts", {"properties": {"email": "ann@acme.com"}}).status_code == 201


def test_hubspot_search_keyset_paging(hs):
    ids = [hs.emu.insert("contacts", {"email": f"p{i}@x.com"}) for i in range(7)]
    stamp = hs.emu.objects["contacts"][ids[3]]["properties"]["hs_lastmodifieddate"]
    for record_id in ids:  # several records share one modified time
        hs.emu.objects["contacts"][record_id]["properties"]["hs_lastmodifieddate"] = stamp
    seen, last = [], "0"
    while True:
        body = {"filterGroups": [{"filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": stamp},
                    {"propertyName": "hs_object_id", "operator": "GT", "value": last}]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 3,
                "properties": ["hs_lastmodifieddate"]}
        page = search(hs, "contacts", body).json()["results"]
        if not page:
            break
        seen += [r["id"] for r in page]
        last = page[-1]["id"]
    assert seen == ids
    eq = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": stamp}]}]}
    assert search(hs, "contacts", eq).json()["total"] == 7


@pytest.mark.parametrize("body", [
    {"sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"},
               {"propertyName": "hs_object_id", "direction": "ASCENDING"}]},
    {"limit": 201},
    {"after": "9900", "limit": 200},
    {"after": "abc"},
    {"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "1"}]}]},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "x"}]}] * 6},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "x"}] * 7}]},
])
def test_hubspot_search_limits(hs, body):
    answer = search(hs, "contacts", body)
    assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR"


def test_hubspot_with_the_official_client(hs, tls):
    from hubspot import HubSpot
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate
    from hubspot.crm.contacts.exceptions import ApiException
    client = HubSpot(access_token=hs_emu.TOKEN, host=hs.server.url, ssl_ca_cert=tls[0])
    made = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "a@b.co"}))
    assert made.id
    with pytest.raises(ApiException) as refused:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "a@b.co"}))
    assert refused.value.status == 409
