"""Creating HubSpot contacts for product users, without ever making a second one.

Existing contacts are matched by email with a batch read on `idProperty: email` (not search, whose index lags
writes by seconds). New ones are created by a batch upsert on a unique-value property holding the product
user id: a retry after a lost answer updates the contact the first try made.
"""
from __future__ import annotations

import json

import urllib3

from crm_app.crm.base import CrmError, WriteOutcome

BATCH = 100
EXTERNAL_ID_LABEL = "PQL product user id"
RETRIED = (0, 429, 500, 502, 503, 504)


class HubSpotPeople:
    """Mixed into HubSpotCrm: needs its `batch_api`, `core_api`, `policy`, `property_group`, `_call`, `_exists`,
    `_ensure_group` and `_create_once`."""

    def find_people_by_email(self, emails: list[str]) -> dict:
        """lower-cased email -> ("contacts", id) of the existing contacts."""
        found: dict = {}
        wanted = sorted({e.lower() for e in emails if e})
        for start in range(0, len(wanted), BATCH):
            body = {"idProperty": "email", "inputs": [{"id": e} for e in wanted[start:start + BATCH]],
                    "properties": ["email"]}
            raw = self._call(lambda: self.batch_api.read("contacts", body, _preload_content=False))
            for record in json.loads(raw.data or b"{}").get("results") or []:
                email = (record.get("properties") or {}).get("email")
                if email:
                    found[email.lower()] = ("contacts", str(record["id"]))
        return found

    def ensure_external_id(self, object_type: str, field: str) -> bool:
        """Create the unique-value property when it is missing; True when it was created. Checked once per
        adapter and property."""
        ready = self.__dict__.setdefault("_external_ids_ready", set())
        if (object_type, field) in ready or self._exists(lambda: self.core_api.get_by_name(object_type, field)):
            ready.add((object_type, field))
            return False
        self._ensure_group(object_type)
        body = {"name": field, "label": EXTERNAL_ID_LABEL, "type": "string", "fieldType": "text",
                "groupName": self.property_group, "hasUniqueValue": True,
                "description": "PQL scoring engine: the product user this contact was created for"}
        self._create_once(lambda: self.core_api.create(object_type, body),
                          lambda: self._exists(lambda: self.core_api.get_by_name(object_type, field)))
        ready.add((object_type, field))
        return True

    def upsert_people(self, object_type: str, field: str, rows: list[tuple[str, dict]]) -> list[WriteOutcome]:
        """One outcome per (external id, values), in order; WriteOutcome.id is the contact id when ok."""
        out: list[WriteOutcome] = []
        for start in range(0, len(rows), BATCH):
            out.extend(self._upsert_part(object_type, field, rows[start:start + BATCH]))
        return out

    def _upsert_part(self, object_type: str, field: str, part: list[tuple[str, dict]]) -> list[WriteOutcome]:
        body = {"inputs": [{"idProperty": field, "id": external, "properties": values} for external, values in part]}
        last = None
        for attempt in range(self.policy.attempts):  # an upsert may be repeated: it never makes a second record
            try:
                raw = self.batch_api.upsert(object_type, body, _preload_content=False)
                result = json.loads(raw.data or b"{}")
                break
            except urllib3.exceptions.HTTPError as exc:
                last = exc
            except Exception as exc:  # noqa: BLE001 - the SDK raises ApiException with a status
                status = getattr(exc, "status", None)
                if status in (400, 409):  # the batch was refused as a whole: each record failed
                    return [WriteOutcome(external, False, f"{status}: {getattr(exc, 'body', exc)}"[:500])
                            for external, _ in part]
                if status not in RETRIED:
                    raise CrmError(f"HubSpot refused the upsert: {status} {exc}") from exc
                last = exc
            self.policy.sleep(self.policy.delay(attempt))
        else:
            raise CrmError(f"HubSpot upsert kept failing: {last}")
        by_external = {str((r.get("properties") or {}).get(field)): str(r["id"]) for r in result.get("results") or []}
        return [WriteOutcome(by_external[external], True) if external in by_external
                else WriteOutcome(external, False, "no result for this record") for external, _ in part]
