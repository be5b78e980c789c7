"""Stores made before Alembic: their numbered steps, frozen, and how such a store is brought up to the baseline.

Such a store records the steps it ran in `schema_migrations`. The steps below are the schema each one created,
written out once (frozen_*.py); the baseline revision runs all of them, so a legacy store that runs its missing
ones has exactly the baseline's schema and is stamped with it. Never edit or append: schema changes are revisions.
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from crm_app.store.migrations import frozen_core, frozen_crm, frozen_dashboard, frozen_service

schema_migrations = sa.Table(
    "schema_migrations", sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(255)),
    sa.Column("applied_at", sa.BigInteger),
)

STEPS = [
    (1, "people, accounts, events, metrics, results, history, ingest ledger", frozen_core.step_1),
    (10, "CRM links, last-written values, write failures, watermarks, API-call accounting", frozen_crm.step_10),
    (20, "lifecycle models (trained versions, reports) and backtest runs", frozen_crm.step_20),
    (30, "playbooks: trigger state, action ledger, routing counters, Slack alerts, outbox, feedback",
     frozen_crm.step_30),
    (40, "identity: CRM people, identity links, account matches", frozen_service.step_40),
    (41, "customer-health segment membership", frozen_service.step_41),
    (42, "results.segment: the primary segment written to the CRM", frozen_service.step_42),
    (50, "dashboard: keyset indexes on results for sorted, filtered people pages", frozen_dashboard.step_50),
    (51, "dashboard: index on the person's owner field", frozen_dashboard.step_51),
    (52, "dashboard: playbook ledger by person, for the person page", frozen_dashboard.step_52),
    (60, "service: job runs, scheduler lease, daily score snapshots", frozen_service.step_60),
    (70, "dashboard: revocable sessions, failed sign-ins, users, audit log", frozen_dashboard.step_70),
    (85, "CRM records deleted in the CRM, so their people are not given a new one", frozen_service.step_85),
    (86, "people: expression index on the canonical email, for sync's matching", frozen_dashboard.step_86),
    (90, "lifecycle models: the live (champion) version of each model", frozen_service.step_90),
    (91, "field history: each person field change with the moment it became known", frozen_service.step_91),
    (100, "admin files: published versions of the whole set, with their files", frozen_service.step_100),
    (120, "dashboard: people search by name and company (expression indexes)", frozen_dashboard.step_120),
    (130, "dashboard: OpenID Connect sign-ins under way (state, nonce, PKCE verifier)", frozen_dashboard.step_130),
    (131, "dashboard: addresses each user signed in from (exempt from the user-wide sign-in lock)",
     frozen_dashboard.step_131),
    (150, "service: job requests from the web (Score everyone now) with their progress", frozen_service.step_150),
]
LAST = STEPS[-1][0]


def is_legacy(conn: sa.Connection) -> bool:
    """A store migrated by numbered steps and not yet by Alembic."""
    tables = set(sa.inspect(conn).get_table_names())
    return "schema_migrations" in tables and "alembic_version" not in tables


def apply_missing(conn: sa.Connection, upto: int = LAST) -> list[int]:
    """Run the steps (up to `upto`) this store has not recorded, in order, and record them; return their numbers."""
    schema_migrations.create(conn, checkfirst=True)
    done = set(conn.execute(sa.select(schema_migrations.c.version)).scalars())
    op = Operations(MigrationContext.configure(conn))
    applied = []
    for version, description, step in STEPS:
        if version in done or version > upto:
            continue
        step(op)
        conn.execute(sa.insert(schema_migrations).values(version=version, description=description,
                                                         applied_at=int(time.time())))
        applied.append(version)
    return applied
