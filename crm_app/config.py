"""Settings from the environment (12-factor). The defaults give the embedded single-machine mode."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from crm_app.crm.settings import CRM_SETTINGS
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
}
SETTINGS.update(CRM_SETTINGS)  # issue 3: CRM integration settings


@dataclass(frozen=True)
class Config:
    database_url: str
    specs_root: str
    write_key: str
    max_message_bytes: int
    max_batch_bytes: int
    secret_key: str
    log_level: str
    dashboard_admin_user: str
    dashboard_admin_password: str
    dashboard_manager_user: str
    dashboard_manager_password: str

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "Config":
        """Read every setting from the environment, falling back to its default."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = f.name.upper()
            raw = overrides.get(f.name, env.get(name, SETTINGS[name][0]))
            values[f.name] = int(raw) if f.type == "int" else raw
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


from crm_app.slack.settings import SLACK_SETTINGS  # noqa: E402 - issue 4: playbook and Slack settings

SETTINGS.update(SLACK_SETTINGS)
