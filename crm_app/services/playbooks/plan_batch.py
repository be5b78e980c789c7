"""What planning one batch of subjects for one playbook reads once: the occurrences already in the ledger,
the alert counts its noise limits compare, and the owner choices (week counts, round-robin positions). Each
is kept up to date in memory as entries are added, and the routing counters are written by `flush` in the
batch's transaction, so a batch of many new PQLs costs the statements of one."""
from __future__ import annotations

from crm_app.services.playbooks.assign import Assigner
from crm_app.specs.playbooks import Playbook
from crm_app.store.playbooks import ledger as pb_store


class PlanBatch:
    def __init__(self, conn, pb: Playbook, now: int, subject_ids: list):
        self.assigner = Assigner(conn, now)
        self.planned = pb_store.planned_occurrences(conn, pb.name, subject_ids)
        self.by_person = (pb_store.alert_counts(conn, now - pb.per_person.per, "subject_id", subject_ids)
                          if pb.per_person else {})
        self.by_owner = pb_store.alert_counts(conn, now - pb.per_owner.per, "owner") if pb.per_owner else {}

    def added(self, entries: list) -> None:
        """Entries written to the ledger: their occurrence is planned, and their alerts count from now on."""
        for e in entries:
            self.planned.add((e["subject_id"], e["occurrence"]))
            if e["action"] == "slack_alert" and e["status"] in pb_store.COUNTED:
                self.by_person[e["subject_id"]] = self.by_person.get(e["subject_id"], 0) + 1
                if e["owner"]:
                    self.by_owner[e["owner"]] = self.by_owner.get(e["owner"], 0) + 1

    def flush(self) -> None:
        self.assigner.flush()
