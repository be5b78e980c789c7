"""Settings from the environment (12-factor). The defaults give the embedded single-machine mode."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from crm_app.crm.settings import CRM_SETTINGS
from crm_app.store.columnar.sources import SETTINGS as EVENT_SOURCE_SETTINGS
from crm_app.errors import ConfigError
from crm_app.specs.loader import SpecDirs

# name -> (default, meaning). README.md documents each; tests/test_docs.py checks that.
SETTINGS: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("sqlite:///var/pql.db", "the store: sqlite:///path or postgresql://user@host/db"),
    "SPECS_ROOT": (".", "folder holding rules/, field_specs/ and playbooks/"),
    "WRITE_KEY": ("", "Segment write key the ingest API requires (HTTP Basic user); empty = embedded demo only"),
    "MAX_MESSAGE_BYTES": ("32768", "largest single ingest message, as Segment's limit"),
    "MAX_BATCH_BYTES": ("512000", "largest ingest batch request, as Segment's limit"),
    "SECRET_KEY": ("", "Flask session key; when empty, one is kept in the store (shared by every web process)"),
    "LOG_LEVEL": ("INFO", "logging level"),
    "SALES_REPS": ("1", "sales reps sharing the PQLs, for PQLs per rep per week (backtest, health)"),
    "DASHBOARD_ADMIN_USER": ("admin", "dashboard login with the admin role (edits rules and thresholds)"),
    "DASHBOARD_ADMIN_PASSWORD": ("", "its password; empty = only the one-time password `demo` prints"),
    "DASHBOARD_MANAGER_USER": ("manager", "dashboard login with the manager role (views, acts on alerts)"),
    "DASHBOARD_MANAGER_PASSWORD": ("", "its password; empty disables the manager login"),
    "TRUSTED_PROXY_HOPS": ("0", "reverse proxies in front of the web process whose X-Forwarded-* headers count"),
    "READYZ_TOKEN": ("", "bearer token that unlocks the details of /readyz; empty = only a signed-in admin"),
    # The running service (worker, serve): see README "Running the service".
    "SCORE_WORKERS": ("", "processes for large scoring runs; empty = one per core, at most 4"),
    "SCORE_CHANGED_SECONDS": ("5", "worker: how often people whose data changed are rescored"),
    "CRM_SYNC_SECONDS": ("300", "worker: how often the CRM is read incrementally"),
    "WRITE_BACK_SECONDS": ("60", "worker: how often changed scores are written to the CRM"),
    "PLAYBOOK_SECONDS": ("30", "worker: how often playbooks run"),
    "RULES_POLL_SECONDS": ("5", "worker: how often rules/, field_specs/ and playbooks/ are checked for edits"),
    "FULL_RESCORE_AT": ("03:00", "worker: daily full rescore (applies decay) at this UTC time, HH:MM"),
    "SNAPSHOT_AT": ("00:10", "worker: daily score snapshot at this UTC time, HH:MM"),
    "DIGEST_AT": ("08:00", "worker: daily Slack digest of held PQL alerts at this UTC time, HH:MM"),
    "MISFIRE_GRACE_SECONDS": ("60", "worker: a job late by more than this is skipped until its next time"),
    "LEADER_LEASE_SECONDS": ("30", "worker: scheduler lease; a standby takes over within this after a crash"),
    "SHUTDOWN_GRACE_SECONDS": ("25", "worker: on SIGTERM, how long the running job may take to finish"),
}
SETTINGS.update(CRM_SETTINGS)  # CRM integration settings
SETTINGS.update(EVENT_SOURCE_SETTINGS)  # where scoring reads events


# Secrets a deployment must set; the embedded demo (serve on loopback) may run without them. (SECRET_KEY may
# stay empty: the dashboard then keeps one in the store, shared by every web process.)
REQUIRED_OUTSIDE_EMBEDDED = ("WRITE_KEY", "DASHBOARD_ADMIN_PASSWORD")


def missing_secrets(env: dict | None = None) -> list[str]:
    """Names (never values) of the required secrets not set in the environment."""
    env = os.environ if env is None else env
    return [name for name in REQUIRED_OUTSIDE_EMBEDDED if name in SETTINGS and not env.get(name)]


def setting(name: str, env: dict | None = None) -> str:
    """One setting from the environment, else its default (SETTINGS must list it)."""
    env = os.environ if env is None else env
    return env.get(name) or SETTINGS[name][0]


def whole_number(name: str, raw) -> int:
    """A setting that must be a whole number; a clear ConfigError naming it otherwise."""
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to one, e.g. {name}="
                          f"{SETTINGS[name][0]}, or unset it for the default") from None


@dataclass(frozen=True)
class Config:
    database_url: str
    specs_root: str
    write_key: str = field(repr=False)  # secrets never reach a log line through repr()
    max_message_bytes: int
    max_batch_bytes: int
    secret_key: str = field(repr=False)
    log_level: str
    dashboard_admin_user: str
    dashboard_admin_password: str = field(repr=False)
    dashboard_manager_user: str
    dashboard_manager_password: str = field(repr=False)
    trusted_proxy_hops: int
    readyz_token: str = field(repr=False)

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "Config":
        """Read every setting from the environment, falling back to its default."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = f.name.upper()
            raw = overrides.get(f.name, env.get(name, SETTINGS[name][0]))
            values[f.name] = whole_number(name, raw) if f.type == "int" else raw
        return cls(**values)

    @property
    def spec_dirs(self) -> SpecDirs:
        return SpecDirs.under(Path(self.specs_root))

    @property
    def var_dir(self) -> Path:
        """Where the embedded mode keeps its files (next to a SQLite store)."""
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url[len("sqlite:///"):]).parent
        return Path("var")


from crm_app.slack.settings import SLACK_SETTINGS  # noqa: E402 - playbook and Slack settings

SETTINGS.update(SLACK_SETTINGS)
