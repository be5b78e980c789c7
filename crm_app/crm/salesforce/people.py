"""Creating Leads and Contacts for product users, without ever making a second one.

Records are matched by email first (Leads not yet converted, and Contacts), and created with an upsert on an
External ID field (sObject Collections, 200 records a call): a retry after a lost answer updates the record
the first try made instead of creating another.
"""
from __future__ import annotations

import requests
from simple_salesforce.exceptions import SalesforceError

from crm_app.crm.base import CrmError, WriteOutcome

COLLECTION = 200
EMAILS_PER_QUERY = 200  # keeps each SOQL statement well under its 100,000-character limit
EXTERNAL_ID_LABEL = "PQL product user id"


def soql_quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class SalesforcePeople:
    """Mixed into SalesforceCrm: needs its `sf`, `policy`, `_query`, `_custom_field_names`, `create_custom_field`
    and `grant_access`."""

    def find_people_by_email(self, emails: list[str]) -> dict:
        """lower-cased email -> (object, id) of an existing Contact, else an unconverted Lead."""
        found: dict = {}
        wanted = sorted({e.lower() for e in emails if e})
        for object_type, extra in (("Lead", " AND IsConverted = false"), ("Contact", "")):
            for start in range(0, len(wanted), EMAILS_PER_QUERY):
                part = ", ".join(soql_quote(e) for e in wanted[start:start + EMAILS_PER_QUERY])
                for row in self._query(f"SELECT Id, Email FROM {object_type} WHERE Email IN ({part}){extra}"):
                    if row.get("Email"):
                        found[row["Email"].lower()] = (object_type, row["Id"])  # a Contact wins over a Lead
        return found

    def ensure_external_id(self, object_type: str, field: str) -> bool:
        """Create the External ID field when it is missing and make sure the integration user may read and
        edit it (field-level security); True when it was created. Checked once per adapter and field."""
        ready = self.__dict__.setdefault("_external_ids_ready", set())
        if (object_type, field) in ready:
            return False
        created = field not in self._custom_field_names(object_type) and self.create_custom_field(
            object_type, field, {"type": "Text", "length": 64, "label": EXTERNAL_ID_LABEL, "externalId": True,
                                 "unique": True, "caseSensitive": True})
        self.grant_access([(object_type, field)])
        ready.add((object_type, field))
        return created

    def upsert_people(self, object_type: str, field: str, rows: list[tuple[str, dict]]) -> list[WriteOutcome]:
        """One outcome per (external id, values), in order; WriteOutcome.id is the CRM record id when ok."""
        out: list[WriteOutcome] = []
        for start in range(0, len(rows), COLLECTION):
            out.extend(self._upsert_part(object_type, field, rows[start:start + COLLECTION]))
        return out

    def _upsert_part(self, object_type: str, field: str, part: list[tuple[str, dict]]) -> list[WriteOutcome]:
        body = {"allOrNone": False, "records": [{"attributes": {"type": object_type}, field: external, **values}
                                                for external, values in part]}
        last = None
        for _ in range(self.policy.attempts):  # an upsert may be repeated: it never makes a second record
            try:
                answer = self.sf.restful(f"composite/sobjects/{object_type}/{field}", method="PATCH", json=body)
                break
            except SalesforceError as exc:
                if exc.status not in (500, 502, 503, 504):
                    raise CrmError(f"Salesforce refused the upsert: {exc.status} {exc.content}") from exc
                last = exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = exc
        else:
            raise CrmError(f"Salesforce upsert kept failing: {last}")
        outcomes = []
        for (external, _), result in zip(part, answer):
            if result.get("success"):
                outcomes.append(WriteOutcome(result["id"], True))
            else:
                errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors") or [])
                outcomes.append(WriteOutcome(external, False, errors or "refused"))
        return outcomes
