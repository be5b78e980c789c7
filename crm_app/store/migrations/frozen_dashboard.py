"""Frozen legacy steps of the dashboard: keyset and expression indexes, sign-in tables. Never edit."""
from __future__ import annotations

import sqlalchemy as sa


def step_70(op) -> None:
    op.create_table('audit_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.Column('actor', sa.String(length=255), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target', sa.String(length=255), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False, if_not_exists=True)
    op.create_table('dashboard_sessions',
        sa.Column('sid', sa.String(length=64), nullable=False),
        sa.Column('user', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('seen_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('sid'),
        if_not_exists=True)
    op.create_index(op.f('ix_dashboard_sessions_user'), 'dashboard_sessions', ['user'],
                    unique=False, if_not_exists=True)
    op.create_table('dashboard_users',
        sa.Column('user', sa.String(length=255), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('user'),
        if_not_exists=True)
    op.create_table('login_failures',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('user', sa.String(length=255), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_index(op.f('ix_login_failures_address'), 'login_failures', ['address'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_login_failures_at'), 'login_failures', ['at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_login_failures_user'), 'login_failures', ['user'], unique=False, if_not_exists=True)


def step_130(op) -> None:
    op.create_table('sso_states',
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
        if_not_exists=True)
    op.create_index(op.f('ix_sso_states_expires_at'), 'sso_states', ['expires_at'], unique=False, if_not_exists=True)


def step_131(op) -> None:
    op.create_table('login_known_addresses',
        sa.Column('user', sa.String(length=255), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('last_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('user', 'address'),
        if_not_exists=True)


def step_50(op) -> None:
    """Keyset indexes on results, one per (filter, sort) shape of the people list."""
    for name, columns in (
            ("ix_results_model_combined", ["model", "combined", "subject_id", "fit_raw", "band", "pql"]),
            ("ix_results_model_band_combined", ["model", "band", "combined", "subject_id", "pql"]),
            ("ix_results_model_pql_combined", ["model", "pql", "combined", "subject_id", "band"]),
            ("ix_results_model_fit", ["model", "fit", "subject_id", "band", "pql"]),
            ("ix_results_model_behaviour", ["model", "behaviour", "subject_id", "band", "pql"]),
            ("ix_results_model_pql_since", ["model", "pql_since"])):
        op.create_index(name, "results", columns, if_not_exists=True)


def _json_field(op, field: str) -> str:
    """A field of people.attributes with a literal path: SQLite matches an expression index only then."""
    if op.get_bind().dialect.name == "postgresql":
        return f"(attributes ->> '{field}')"
    return f"json_extract(attributes, '$.{field}')"


def step_51(op) -> None:
    op.create_index("ix_people_owner", "people", [sa.text(_json_field(op, "owner"))], if_not_exists=True)


def step_52(op) -> None:
    op.create_index("ix_pb_ledger_subject", "pb_ledger", ["subject_id"], if_not_exists=True)


def step_86(op) -> None:
    """The canonical email (trimmed, lower-cased, +tag removed), exactly as sync's queries compute it."""
    find = "strpos" if op.get_bind().dialect.name == "postgresql" else "instr"
    text, plus, at = "lower(trim(email))", f"{find}(lower(trim(email)), '+')", f"{find}(lower(trim(email)), '@')"
    canonical = (f"CASE WHEN ({plus} > 0 AND {plus} < {at}) THEN substr({text}, 1, {plus} - 1) || substr({text}, {at})"
                 f" ELSE {text} END")
    op.create_index("ix_people_email_canonical", "people", [sa.text(f"({canonical})")], if_not_exists=True)


def step_120(op) -> None:
    """People search: lower-cased name fields and account name."""
    for field in ("first_name", "last_name", "name"):
        op.create_index(f"ix_people_search_{field}", "people", [sa.text(f"lower({_json_field(op, field)})")],
                        if_not_exists=True)
    op.create_index("ix_accounts_search_name", "accounts", [sa.text("lower(name)")], if_not_exists=True)
