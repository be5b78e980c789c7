"""CRM sync stamps field changes with the vendor's modification time (clamped, with the sync time as fallback)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from crm_app.crm.sandbox import SandboxCrm
from crm_app.services.crm.change_time import change_time
from crm_app.services.crm.sync import sync_crm
from crm_app.store import field_history, schema
from tests import crm_world as w
from tests.crm_world import hs_server, sf_server, tls  # noqa: F401 - fixtures

NOW = int(datetime(2026, 12, 3, 12, tzinfo=timezone.utc).timestamp())
NOV_20 = int(datetime(2026, 11, 20, 10, 0, 5, tzinfo=timezone.utc).timestamp())


@pytest.mark.parametrize("watermark, expected", [
    ("2026-11-20T10:00:05.000+0000|003000000000001AAA", NOV_20),  # Salesforce SystemModstamp
    (f"{NOV_20 * 1000 + 250}|1501", NOV_20),  # HubSpot lastmodifieddate / hs_lastmodifieddate in ms
    ("2026-11-20T10:00:05.123456Z|CON-1", NOV_20),  # the sandbox's modified_at
    ("2027-01-01T00:00:00Z|CON-1", NOW),  # a vendor clock ahead of ours: not in the future
    ("|CON-1", NOW),
    (None, NOW),
    ("yesterday|CON-1", NOW),
])
def test_change_time_from_the_vendor_stamp(watermark, expected):
    assert change_time(watermark, NOW) == expected


def _plan_history(store) -> list:
    h = field_history.field_history
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(
            select(h.c.subject_kind, h.c.field, h.c.value, h.c.valid_from, h.c.initial)
            .where(h.c.field.in_(["title", "industry"]), h.c.initial.is_(False)).order_by(h.c.field))]


@pytest.mark.parametrize("stamp, expected", [
    ("2026-11-20T10:00:05.000000Z", NOV_20),
    ("2999-01-01T00:00:00.000000Z", None),  # in the future: the sync time
])
def test_sync_records_changes_at_the_vendors_time(store, tmp_path, stamp, expected):
    """`store` runs on both backends; the sandbox CRM keeps its own modified_at per record."""
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    w.seed_sandbox(crm)
    sync_crm(store, crm, w.mapping("sandbox"))
    with store.begin() as conn:  # people known long before (a change is never kept before its record existed)
        conn.execute(schema.people.update().values(created_at=NOV_20 - 30 * 86400))
    crm.db.execute("UPDATE contacts SET title = 'CEO', modified_at = ? WHERE id = 'CON-1'", [stamp])
    crm.db.execute("UPDATE accounts SET industry = 'Retail', modified_at = ? WHERE id = ("
                   "SELECT account_id FROM contacts WHERE id = 'CON-1')", [stamp])
    crm.db.conn.commit()
    before = int(datetime.now(timezone.utc).timestamp())
    sync_crm(store, crm, w.mapping("sandbox"), full=True)
    after = int(datetime.now(timezone.utc).timestamp())
    rows = _plan_history(store)
    assert [(k, f, v) for k, f, v, _, _ in rows] == [("account", "industry", "Retail"), ("person", "title", "CEO")]
    for _, _, _, valid_from, _ in rows:
        assert valid_from == expected if expected else before <= valid_from <= after


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_vendor_emulators_stamp_the_change_with_their_modified_time(crm, request, store, tls):
    """Salesforce's SystemModstamp and HubSpot's lastmodifieddate, on an org whose clock is ten days behind."""
    from datetime import timedelta

    from crm_app.crm.values import epoch_ms
    server = request.getfixturevalue("sf_server" if crm == "salesforce" else "hs_server")
    adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, tls[0])
    emu = server.app
    emu.clock -= timedelta(days=10)
    (w.seed_salesforce if crm == "salesforce" else w.seed_hubspot)(emu)
    sync_crm(store, adapter, w.mapping(crm))
    with store.begin() as conn:
        conn.execute(schema.people.update().values(created_at=NOV_20 - 30 * 86400))
    emu.clock += timedelta(seconds=2)
    if crm == "salesforce":
        contact = next(r for r in emu.records["Contact"].values() if r["Email"] == "bob@acme.com")
        contact.update(Title="CTO", SystemModstamp=emu.tick())
        stamp = contact["SystemModstamp"]
    else:
        contact = next(r for r in emu.objects["contacts"].values() if r["properties"]["email"] == "bob@acme.com")
        contact["properties"].update(jobtitle="CTO", lastmodifieddate=emu.tick())
        stamp = contact["properties"]["lastmodifieddate"]
    sync_crm(store, adapter, w.mapping(crm))
    assert [(f, v, t) for _, f, v, t, _ in _plan_history(store)] == [("title", "CTO", epoch_ms(stamp) // 1000)]
