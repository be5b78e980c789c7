"""Field provisioning: create what is missing, leave what matches, report a type clash without touching it."""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.services.crm.accounting import record_usage
from crm_app.store import Store

CREATE, OK, CLASH, GRANT = "create", "ok", "clash", "grant"


@dataclass
class PlanItem:
    """One field on one object, and what provisioning does about it."""

    object_type: str
    field: str
    action: str  # create | ok | clash | grant (exists but hidden from the integration user)
    detail: str = ""
    spec_key: str = ""
    done: bool = False

    def line(self) -> str:
        mark = {CREATE: "+", OK: "=", CLASH: "!", GRANT: "~"}[self.action]
        return f"{mark} {self.object_type}.{self.field}: {self.action}{' - ' + self.detail if self.detail else ''}"


def plan_provision(adapter, specs) -> list[PlanItem]:
    """Compare each field spec with what the CRM describes; read-only."""
    described: dict = {}
    plan = []
    for spec in specs:
        for object_type, name in adapter.field_targets(spec):
            if object_type not in described:
                described[object_type] = adapter.describe_fields(object_type)
            plan.append(_compare(spec, object_type, name, described[object_type].get(name)))
    return plan


def _compare(spec, object_type: str, name: str, info) -> PlanItem:
    if info is None:
        return PlanItem(object_type, name, CREATE, f"{spec.type} '{spec.label}'", spec.key)
    if info.type == "hidden":
        return PlanItem(object_type, name, GRANT, "exists but the integration user cannot see it", spec.key)
    if info.type != spec.type:
        return PlanItem(object_type, name, CLASH, f"the CRM has type {info.type}, the spec says {spec.type}; "
                        "left unchanged - rename the field in the spec or fix it in the CRM", spec.key)
    return PlanItem(object_type, name, OK, "", spec.key)


def apply_provision(adapter, specs, plan: list[PlanItem]) -> list[PlanItem]:
    """Create the missing fields, then grant access where the adapter needs it (Salesforce FLS)."""
    by_key = {s.key: s for s in specs}
    for item in plan:
        if item.action == CREATE:
            adapter.create_field(item.object_type, by_key[item.spec_key])
            item.done = True
    needs_access = [(i.object_type, i.field) for i in plan if i.action in (CREATE, GRANT, OK)]
    if needs_access and hasattr(adapter, "grant_access"):
        adapter.grant_access(needs_access)
        for item in plan:
            item.done = item.done or item.action == GRANT
    return plan


def provision(store: Store, adapter, specs, dry_run: bool = False) -> list[PlanItem]:
    """Plan, then apply unless dry_run; the calls used are recorded either way."""
    try:
        plan = plan_provision(adapter, specs)
        return plan if dry_run else apply_provision(adapter, specs, plan)
    finally:
        record_usage(store, adapter, "provision")


def provision_task_key(store: Store, adapter) -> list[PlanItem]:
    """Make sure the field playbook tasks are upserted on exists (adapters whose tasks carry a key); the
    `provision` command runs it, and the first task makes it otherwise."""
    if not hasattr(adapter, "ensure_task_key"):
        return []
    object_type, name = adapter.task_key_field
    try:
        created = adapter.ensure_task_key()
    finally:
        record_usage(store, adapter, "provision")
    return [PlanItem(object_type, name, CREATE if created else OK,
                     "text, the key playbook tasks are upserted on" if created else "", "", True)]
