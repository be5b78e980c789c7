"""Field provisioning: plan, create what is missing, leave matches alone, report type clashes untouched,
Salesforce field-level security through a permission set, HubSpot property group first."""
from __future__ import annotations

import pytest

from crm_app.crm.sandbox import SandboxCrm
from crm_app.services.crm.provision import provision
from crm_app.store import crm as crm_store
from tests import crm_world as w
from tests.crm_world import hs_server, sf_server, store, tls  # noqa: F401 - fixtures


def _adapter(crm, request, tmp_path, tls):
    if crm == "sandbox":
        return None, SandboxCrm(str(tmp_path / "crm.db"))
    server = request.getfixturevalue("sf_server" if crm == "salesforce" else "hs_server")
    return server, (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, tls[0])


@pytest.mark.parametrize("crm", ["sandbox", "salesforce", "hubspot"])
def test_dry_run_changes_nothing(crm, request, tmp_path, store, tls):
    _server, adapter = _adapter(crm, request, tmp_path, tls)
    fields = w.spec_fields()
    plan = provision(store, adapter, fields, dry_run=True)
    assert plan and {i.action for i in plan} == {"create"}
    assert {i.action for i in provision(store, adapter, fields, dry_run=True)} == {"create"}


@pytest.mark.parametrize("crm", ["sandbox", "salesforce", "hubspot"])
def test_type_clash_is_reported_and_left_alone(crm, request, tmp_path, store, tls):
    server, adapter = _adapter(crm, request, tmp_path, tls)
    fields = w.spec_fields()
    score = next(s for s in fields if s.key == "pql_score")
    wrong = type(score)(**{**score.__dict__, "type": "text"})
    target = adapter.field_targets(score)[0]
    adapter.create_field(target[0], wrong)
    if crm == "salesforce":
        adapter.grant_access([target])
    plan = provision(store, adapter, fields)
    clash = [i for i in plan if i.action == "clash"]
    assert [(i.object_type, i.field) for i in clash] == [target]
    assert "the CRM has type text, the spec says number" in clash[0].detail
    assert adapter.describe_fields(target[0])[target[1]].type == "text"  # untouched


def test_salesforce_fields_get_field_level_security(sf_server, store, tls):
    adapter = w.salesforce_adapter(sf_server, tls[0])
    fields = w.spec_fields()
    provision(store, adapter, fields)
    emu = sf_server.app
    assert all(emu.visible(o, n) for s in fields for o, n in adapter.field_targets(s))
    perms = [p for p in emu.records["FieldPermissions"].values() if p["PermissionsRead"] and p["PermissionsEdit"]]
    assert len(perms) == 20 and len(emu.records["PermissionSet"]) == 1
    assert len(emu.records["PermissionSetAssignment"]) == 1


def test_salesforce_hidden_field_is_granted_not_recreated(sf_server, store, tls):
    adapter = w.salesforce_adapter(sf_server, tls[0])
    fields = w.spec_fields()
    score = next(s for s in fields if s.key == "pql_score")
    adapter.create_field("Lead", score)  # created by someone else, without field-level security
    assert "PQL_Score__c" not in [n for n, i in adapter.describe_fields("Lead").items() if i.type != "hidden"]
    plan = provision(store, adapter, fields)
    assert [i.action for i in plan if (i.object_type, i.field) == ("Lead", "PQL_Score__c")] == ["grant"]
    assert sf_server.app.visible("Lead", "PQL_Score__c")
    assert {i.action for i in provision(store, adapter, fields)} == {"ok"}


def test_hubspot_properties_live_in_their_group(hs_server, store, tls):
    adapter = w.hubspot_adapter(hs_server, tls[0])
    provision(store, adapter, w.spec_fields())
    props = hs_server.app.properties["contacts"]
    assert len(props) == 10 and {p["groupName"] for p in props.values()} == {"pql_scoring"}
    assert props["activation_status"]["options"][2]["value"] == "Power User"
    assert (props["pql_status"]["type"], props["pql_status"]["fieldType"]) == ("bool", "booleancheckbox")


def test_provision_records_its_api_calls(sf_server, store, tls):
    adapter = w.salesforce_adapter(sf_server, tls[0])
    provision(store, adapter, w.spec_fields())
    with store.read() as conn:
        totals = crm_store.call_totals(conn, "salesforce", 0)
    assert sum(c for op, _, c in totals if op == "provision") == len(sf_server.calls)
    assert {"tooling", "sobjects"} <= {family for _, family, _ in totals}
