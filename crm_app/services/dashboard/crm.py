"""The Integrations page: which CRM, its fields, how far syncs got, API calls used and rate-limit headroom."""
from __future__ import annotations

import re
from urllib.parse import urlparse

from crm_app.crm.registry import make_adapter, setting
from crm_app.services.crm.accounting import crm_status, record_usage
from crm_app.services.crm.provision import plan_provision
from crm_app.store import Store

# Where each CRM is reached, for display: hosts only, never credentials.
ENDPOINTS = {"sandbox": "CRM_SANDBOX_PATH", "salesforce": "SALESFORCE_INSTANCE_URL", "hubspot": "HUBSPOT_HOST"}


def connection() -> dict:
    """The configured CRM and where it lives (a host or the sandbox file)."""
    name = setting("CRM").strip().lower()
    where = setting(ENDPOINTS[name]) if name in ENDPOINTS else ""
    if where.startswith("http"):
        where = urlparse(where).netloc
    return {"crm": name, "where": where or "not set", "known": name in ENDPOINTS}


def headroom(limits: dict) -> list[dict]:
    """Used / allowed pairs found in the last limit headers (e.g. api-usage=120/15000), with the share left."""
    out = []
    for key, value in sorted(limits.items()):
        match = re.search(r"(\d+)\s*/\s*(\d+)", str(value))
        if match:
            used, allowed = int(match.group(1)), int(match.group(2))
            out.append({"name": key, "used": used, "allowed": allowed,
                        "left": 1 - used / allowed if allowed else None})
    return out


def integration_status(store: Store) -> dict:
    """Everything the page shows from the store alone: no call to the CRM."""
    conn = connection()
    status = crm_status(store, conn["crm"]) if conn["known"] else None
    return {"connection": conn, "status": status, "headroom": headroom(status.limits) if status else [],
            "calls_today": sum(c for _, _, c in status.today) if status else 0}


def check_fields(store: Store, field_specs) -> list:
    """Each field spec against what the CRM describes (planned / ok / clash / grant); the calls are accounted."""
    adapter = make_adapter()
    plan = plan_provision(adapter, field_specs)
    record_usage(store, adapter, "dashboard")
    return plan
