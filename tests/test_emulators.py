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
