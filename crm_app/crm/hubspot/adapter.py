"""HubSpot adapter (hubspot-api-client): contacts and companies, through the generic CRM v3 objects API.

Writes go in batches of 100 (HTTP 207 partial failures are read per record). Incremental reads use search
sorted by the last-modified date, restarting from the last timestamp seen before the 10,000-result cap.
"""
from __future__ import annotations

import json
from typing import Iterator

import urllib3
from hubspot import HubSpot
from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest, SimplePublicObjectInput
from hubspot.crm.properties import Option, PropertyCreate, PropertyGroupCreate

from crm_app.crm.base import CallCounter, CrmError, CrmRecord, FieldInfo, Owner, RecordUpdate, WriteOutcome
from crm_app.crm.deletions import HubSpotDeletions
from crm_app.crm.hubspot.people import HubSpotPeople
from crm_app.crm.hubspot.tasks import HubSpotTasks
from crm_app.crm.hubspot.transport import api_factory
from crm_app.crm.readback import LostAnswer, write_checked
from crm_app.crm.retry import RetryPolicy
from crm_app.crm.values import canonical, epoch_ms, to_hubspot

BATCH = 100
PAGE = 200
SEARCH_CAP = 10_000
GROUP = "pql_scoring"
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
TYPES = {"number": ("number", "number"), "boolean": ("bool", "booleancheckbox"), "date": ("date", "date"),
         "datetime": ("datetime", "date"), "text": ("string", "text"), "long_text": ("string", "textarea"),
         "picklist": ("enumeration", "select")}


def our_type(prop: dict) -> str:
    """Our type of a HubSpot property."""
    kind, field_type = prop.get("type"), prop.get("field_type") or prop.get("fieldType")
    for ours, pair in TYPES.items():
        if pair == (kind, field_type):
            return ours
    return {"number": "number", "bool": "boolean", "enumeration": "picklist", "date": "date",
            "datetime": "datetime"}.get(kind, "text")


def _keyset(since: str | None) -> tuple | None:
    """(ms, last id) from a watermark; a plain timestamp (an older watermark) re-reads its millisecond."""
    if not since:
        return None
    stamp, _, last_id = since.partition("|")
    return (epoch_ms(stamp) if not stamp.isdigit() else int(stamp), int(last_id) if last_id else 0)


class HubSpotCrm(HubSpotPeople, HubSpotTasks, HubSpotDeletions):
    name = "hubspot"
    tasks_keyed = True  # create_task upserts on a unique-value task property
    task_key_field = ("tasks", "pql_task_key")
    property_group = GROUP

    def __init__(self, access_token: str, host: str = "https://api.hubapi.com", ca_bundle: str | None = None,
                 timeout: float = 30.0, policy: RetryPolicy | None = None):
        if not access_token:
            raise CrmError("HubSpot needs HUBSPOT_ACCESS_TOKEN (a private app token)")
        self.counter = CallCounter()
        self.policy = policy or RetryPolicy()
        options = {"host": host.rstrip("/"), "api_factory": api_factory(self.counter, self.policy, timeout)}
        if ca_bundle:
            options["ssl_ca_cert"] = ca_bundle
        self.client = HubSpot(access_token=access_token, **options)
        # Each attribute access on the discovery objects builds a new ApiClient and connection pool; keep one
        # of each API so connections (and TLS sessions) are reused.
        crm = self.client.crm
        self.core_api, self.groups_api = crm.properties.core_api, crm.properties.groups_api
        self.batch_api, self.search_api = crm.objects.batch_api, crm.objects.search_api
        self.basic_api, self.owners_api = crm.objects.basic_api, crm.owners.owners_api
        self._types: dict[str, dict] = {}
        self._groups_ok: set = set()

    # --- provisioning
    def field_targets(self, spec) -> list[tuple[str, str]]:
        return [(spec.hubspot_object, spec.hubspot_name)] if spec.hubspot_name else []

    def describe_fields(self, object_type: str) -> dict[str, FieldInfo]:
        result = self._call(lambda: self.core_api.get_all(object_type))
        out = {}
        for prop in result.results:
            d = prop.to_dict()
            out[d["name"]] = FieldInfo(d["name"], our_type(d), d.get("label") or "",
                                       tuple(o["value"] for o in d.get("options") or ()))
        self._types[object_type] = {n: i.type for n, i in out.items()}
        return out

    def create_field(self, object_type: str, spec) -> None:
        self._ensure_group(object_type)
        kind, field_type = TYPES[spec.type]
        options = [Option(label=o, value=o, display_order=i, hidden=False) for i, o in enumerate(spec.options)]
        if spec.type == "boolean":
            options = [Option(label="Yes", value="true", display_order=0, hidden=False),
                       Option(label="No", value="false", display_order=1, hidden=False)]
        body = PropertyCreate(name=spec.hubspot_name, label=spec.label, type=kind, field_type=field_type,
                              group_name=GROUP, options=options, description=f"PQL scoring engine ({spec.key})")
        self._create_once(lambda: self.core_api.create(object_type, body),
                          lambda: self._exists(lambda: self.core_api.get_by_name(
                              object_type, spec.hubspot_name)))

    def _ensure_group(self, object_type: str) -> None:
        groups = self.groups_api
        if object_type in self._groups_ok or self._exists(lambda: groups.get_by_name(object_type, GROUP)):
            self._groups_ok.add(object_type)
            return
        body = PropertyGroupCreate(name=GROUP, label="PQL scoring", display_order=-1)
        self._create_once(lambda: groups.create(object_type, body),
                          lambda: self._exists(lambda: groups.get_by_name(object_type, GROUP)))
        self._groups_ok.add(object_type)

    # --- reads
    def read_changed(self, object_type: str, since: str | None,
                     fields: list[str] | None = None) -> Iterator[CrmRecord]:
        """Records after the (last-modified ms, hs_object_id) watermark, a keyset in two filter groups.

        Search takes one sort (last-modified; ties come in id order); before the 10,000 cap the query starts
        again from the last record's keyset. A contact that merges absorbed carries their ids (merged_from).
        """
        types = self._types.get(object_type)  # described once per adapter, also when it has no fields
        types = {n: i.type for n, i in self.describe_fields(object_type).items()} if types is None else types
        modified = MODIFIED[object_type]
        merged = ("hs_merged_object_ids",) if object_type == "contacts" else ()
        names = sorted(set(fields or []) | {modified, *merged})
        floor = _keyset(since)
        while True:
            after, restart = 0, None
            while True:
                page = self._search(object_type, modified, names, floor, after)
                for obj in page.results:
                    stamp = obj.properties.get(modified)
                    key = (epoch_ms(stamp), int(obj.id))
                    values = {n: canonical(types.get(n, "text"), obj.properties.get(n)) for n in names
                              if n not in merged}
                    old = str(obj.properties.get("hs_merged_object_ids") or "")
                    restart = key
                    yield CrmRecord(object_type, obj.id, values, f"{key[0]}|{key[1]}",
                                    merged_from=tuple(x for x in old.split(";") if x and x != obj.id))
                if not page.paging or not page.paging.next:
                    return
                after = int(page.paging.next.after)
                if after + PAGE > SEARCH_CAP:
                    if floor is not None and restart[0] == floor[0]:
                        raise CrmError(f"more than {SEARCH_CAP} {object_type} share one modified time; "
                                       "cannot page past HubSpot's search cap")
                    floor = restart
                    break

    def _search(self, object_type: str, modified: str, names: list, floor, after: int):
        groups = []
        if floor is not None:
            ms, last_id = floor
            groups = [FilterGroup(filters=[Filter(property_name=modified, operator="GT", value=str(ms))]),
                      FilterGroup(filters=[Filter(property_name=modified, operator="EQ", value=str(ms)),
                                           Filter(property_name="hs_object_id", operator="GT", value=str(last_id))])]
        request = PublicObjectSearchRequest(filter_groups=groups,
                                            sorts=[{"propertyName": modified, "direction": "ASCENDING"}],
                                            properties=names, limit=PAGE, after=str(after))
        return self._call(lambda: self.search_api.do_search(object_type, request))

    # --- writes
    def part_size(self, total: int) -> int:
        return BATCH

    def write_values(self, updates: list[RecordUpdate]) -> list[WriteOutcome]:
        outcomes: dict[str, WriteOutcome] = {}
        by_object: dict[str, list] = {}
        for update in updates:
            by_object.setdefault(update.object_type, []).append(update)
        for object_type, items in by_object.items():
            for start in range(0, len(items), BATCH):
                outcomes.update(self._write_batch(object_type, items[start:start + BATCH]))
        return [outcomes[u.id] for u in updates]

    def _write_batch(self, object_type: str, batch: list[RecordUpdate]) -> dict[str, WriteOutcome]:
        outcomes = write_checked(batch, lambda part: self._send_batch(object_type, part),
                                 lambda part: self._read_back(object_type, part), self.policy)
        return {o.id: o for o in outcomes}

    def _send_batch(self, object_type: str, batch: list[RecordUpdate]) -> list[WriteOutcome]:
        # A plain dict body (the client serialises it as is): building one SDK model per input costs a
        # Configuration object each, which dominated the CPU of a large write-back.
        body = {"inputs": [{"id": u.id, "properties": {k: to_hubspot(u.type_of(k), v) for k, v in u.values.items()}}
                           for u in batch]}
        try:
            # Raw JSON: we need ids and errors only, and the SDK's model building (a dateutil parse per
            # timestamp of every returned object) costs more CPU than the rest of the write path.
            raw = self.batch_api.update(object_type, body, _preload_content=False)
            result = json.loads(raw.data or b"{}")
        except urllib3.exceptions.HTTPError as exc:
            raise LostAnswer(str(exc)) from exc
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status is None:
                raise
            if status >= 500 or status == 0:
                raise LostAnswer(str(exc)) from exc
            if status == 400:  # the batch was refused as a whole: each record failed
                return [WriteOutcome(u.id, False, f"400: {getattr(exc, 'body', exc)}") for u in batch]
            raise CrmError(f"HubSpot batch update failed: {status} {exc}") from exc
        errors = {}
        for error in result.get("errors") or []:  # HTTP 207: partial failure
            for record_id in (error.get("context") or {}).get("ids") or []:
                errors[str(record_id)] = f"{error.get('category')}: {error.get('message')}"
        done = {str(r["id"]) for r in result.get("results") or []}
        return [WriteOutcome(u.id, u.id in done, None if u.id in done else errors.get(u.id, "no result"))
                for u in batch]

    def _read_back(self, object_type: str, batch: list[RecordUpdate]) -> dict:
        """id -> current values of the properties a batch writes (batch read, 100 ids a call)."""
        body = {"inputs": [{"id": u.id} for u in batch], "properties": sorted({k for u in batch for k in u.values})}
        raw = self._call(lambda: self.batch_api.read(object_type, body, _preload_content=False))
        return {str(r["id"]): r.get("properties") or {} for r in json.loads(raw.data or b"{}").get("results") or []}

    def list_owners(self) -> list[Owner]:
        owners, after = [], None
        while True:
            page = self._call(lambda: self.owners_api.get_page(limit=100, after=after))
            owners += [Owner(o.id, o.email or "", f"{o.first_name or ''} {o.last_name or ''}".strip(),
                             not o.archived) for o in page.results]
            if not page.paging or not page.paging.next:
                return owners
            after = page.paging.next.after

    def set_owner(self, object_type: str, record_id: str, owner_id: str) -> None:
        self._call(lambda: self.basic_api.update(
            object_type, record_id, SimplePublicObjectInput(properties={"hubspot_owner_id": owner_id})))

    # --- helpers
    def _create_once(self, create, lookup):
        """Create; after a lost answer (reset, timeout, 5xx) ask whether it exists before trying again."""
        for attempt in range(self.policy.attempts):
            if attempt:
                existing = lookup()
                if existing:
                    return existing
            try:
                return create()
            except urllib3.exceptions.HTTPError:
                pass
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status == 409:
                    return lookup()  # it exists already
                if status not in (500, 502, 503, 504):
                    raise CrmError(f"HubSpot refused the create: {status} {getattr(exc, 'body', exc)}") from exc
            self.policy.sleep(self.policy.delay(attempt))
        raise CrmError("HubSpot create kept failing")

    def _exists(self, get) -> bool:
        try:
            self._call(get)
            return True
        except CrmError as exc:
            if "404" in str(exc):
                return False
            raise

    def _call(self, fn):
        try:
            return fn()
        except urllib3.exceptions.HTTPError as exc:
            raise CrmError(f"HubSpot unreachable after retries: {exc}") from exc
        except CrmError:
            raise
        except Exception as exc:
            if getattr(exc, "status", None) is None:
                raise
            raise CrmError(f"HubSpot refused the call: {exc.status} {getattr(exc, 'body', '')}") from exc
