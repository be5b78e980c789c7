"""Settings from the environment (12-factor). The defaults give the embedded single-machine mode."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_app.crm.settings import CRM_SETTINGS
from crm_app.store.columnar.sources import SETTINGS as EVENT_SOURCE_SETTINGS
from crm_app.errors import ConfigError
from crm_app.specs.loader import SpecDirs

# name -> (default, meaning). docs/ documents each; tests/test_docs.py checks that.
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
    "METRICS_TOKEN": ("", "bearer token GET /metrics requires; empty = open (restrict it at the network)"),
    # Sign-in with OpenID Connect: see docs/dashboard.md, "Sign-in with OpenID Connect".
    "OIDC_ISSUER": ("", "OpenID provider's issuer URL (discovery at /.well-known/openid-configuration); empty = no SSO"),
    "OIDC_CLIENT_ID": ("", "client id registered with the OpenID provider"),
    "OIDC_CLIENT_SECRET": ("", "its client secret"),
    "OIDC_PROVIDER_NAME": ("SSO", "the sign-in button's label, e.g. Google, Okta, Microsoft"),
    "OIDC_SCOPES": ("openid email profile", "scopes asked for (openid is required)"),
    "OIDC_EMAIL_CLAIM": ("email", "ID-token claim that names the user (Entra ID: preferred_username)"),
    "OIDC_REQUIRE_VERIFIED_EMAIL": ("1", "1 = refuse an ID token without email_verified: true; 0 for Entra ID"),
    "OIDC_HOSTED_DOMAIN": ("", "Google Workspace: the hd claim the ID token must carry; empty = not checked"),
    "OIDC_ROLE_CLAIM": ("", "claim holding the user's groups or roles (Okta: groups, Entra ID: roles)"),
    "OIDC_ROLE_MAP": ("", "claim value=role pairs, comma-separated, e.g. pql-admins=admin,sales=manager"),
    "OIDC_ALLOWED": ("", "allow-list of email=role or @domain=role pairs, used when no claim value maps"),
    # The running service (worker, serve): see docs/operations.md.
    "SCORE_WORKERS": ("", "processes for large scoring runs; empty = one per core, at most 4"),
    "SCORE_CHANGED_SECONDS": ("5", "worker: how often people whose data changed are rescored"),
    "CRM_SYNC_SECONDS": ("300", "worker: how often the CRM is read incrementally"),
    "WRITE_BACK_SECONDS": ("60", "worker: how often changed scores are written to the CRM"),
    "PLAYBOOK_SECONDS": ("30", "worker: how often playbooks run"),
    "RULES_POLL_SECONDS": ("5", "worker: how often a newly published version of the admin files is looked for"),
    "FULL_RESCORE_AT": ("03:00", "worker: daily full rescore (applies decay) at this UTC time, HH:MM"),
    "SCORE_NOW_POLL_SECONDS": ("2", "worker: how often it looks for a 'Score everyone now' asked from the web"),
    "RETRAIN_CHECK_SECONDS": ("3600", "worker: how often it looks for lifecycle models due for retraining"),
    "SNAPSHOT_AT": ("00:10", "worker: daily score snapshot at this UTC time, HH:MM"),
    "DIGEST_AT": ("08:00", "worker: daily Slack digest of held PQL alerts at this UTC time, HH:MM"),
    "MISFIRE_GRACE_SECONDS": ("60", "worker: a job late by more than this is skipped until its next time"),
    "LEADER_LEASE_SECONDS": ("30", "worker: scheduler lease; a standby takes over within this after a crash"),
    "SHUTDOWN_GRACE_SECONDS": ("25", "worker: on SIGTERM, how long the running job may take to finish"),
    "SCORE_ENGINE": ("", "force duckdb, spark or store for every run whose engine is auto; empty = auto"),
    "SETWISE_MIN_CHANGED": ("500", "under auto, incremental runs of fewer people use the per-person engine"),
    "COLUMNAR_PATH": ("", "the DuckDB copy's file; empty = beside the SQLite store, else under var/"),
    "COLUMNAR_LAG_SECONDS": ("300", "the longest an ingest transaction may stay open; the copy re-reads that far "
                             "back (PostgreSQL stores; SQLite's ids commit in order)"),
    "DUCKDB_MEMORY_LIMIT": ("384MB", "DuckDB's memory cap for a scoring run (it spills to disk past it)"),
    "DUCKDB_THREADS": ("", "DuckDB's threads; empty = one per core"),
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
        raise ConfigError(bad_setting_line(name, raw)) from None


# What each non-text setting must be: (pydantic type, what a person should set instead). Settings not named
# here are free text.
_COUNT = (Annotated[int, Field(ge=1)], "a whole number of at least 1")
_ZERO_OR_MORE = (Annotated[int, Field(ge=0)], "a whole number, 0 or more")
_SECONDS = (Annotated[float, Field(gt=0, allow_inf_nan=False)], "a number of seconds, more than 0")
_SECONDS_OR_ZERO = (Annotated[float, Field(ge=0, allow_inf_nan=False)], "a number of seconds, 0 or more")
_DAILY = (Annotated[str, Field(pattern=r"^\s*([01]?\d|2[0-3]):[0-5]?\d\s*$")], "a UTC time as HH:MM, e.g. 03:00")
_HTTP_URL = (Annotated[str, Field(pattern=r"^https?://\S+$")], "an http:// or https:// URL")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SETTING_TYPES: dict[str, tuple] = {
    "DATABASE_URL": (Annotated[str, Field(pattern=r"^(sqlite:///|postgres(ql)?(\+\w+)?://)\S*$")],
                     "a store URL: sqlite:///path or postgresql://user@host/db"),
    "MAX_MESSAGE_BYTES": _COUNT, "MAX_BATCH_BYTES": _COUNT, "SALES_REPS": _COUNT, "TRUSTED_PROXY_HOPS": _ZERO_OR_MORE,
    "LOG_LEVEL": (Annotated[Literal[_LEVELS], BeforeValidator(lambda v: str(v).strip().upper())],
                  "a logging level: " + ", ".join(_LEVELS)),
    "SCORE_WORKERS": _COUNT, "SCORE_CHANGED_SECONDS": _SECONDS, "CRM_SYNC_SECONDS": _SECONDS,
    "WRITE_BACK_SECONDS": _SECONDS, "PLAYBOOK_SECONDS": _SECONDS, "RULES_POLL_SECONDS": _SECONDS,
    "SCORE_NOW_POLL_SECONDS": _SECONDS,
    "FULL_RESCORE_AT": _DAILY, "SNAPSHOT_AT": _DAILY, "DIGEST_AT": _DAILY, "MISFIRE_GRACE_SECONDS": _COUNT,
    "LEADER_LEASE_SECONDS": _SECONDS, "SHUTDOWN_GRACE_SECONDS": _SECONDS_OR_ZERO,
    "CRM_TIMEOUT_SECONDS": _SECONDS, "CRM_RETRY_ATTEMPTS": _COUNT, "SALESFORCE_BULK_THRESHOLD": _COUNT,
    "SALESFORCE_INSTANCE_URL": _HTTP_URL, "HUBSPOT_HOST": _HTTP_URL, "SLACK_API_URL": _HTTP_URL,
    "SLACK_CHANNEL_RATE": (Annotated[float, Field(gt=0, allow_inf_nan=False)], "messages per second, a number more than 0"),
    "SLACK_CHANNEL_BURST": _COUNT, "PLAYBOOK_MAX_ATTEMPTS": _COUNT,
    "RETRAIN_CHECK_SECONDS": _SECONDS, "SALESFORCE_SETTLE_SECONDS": _SECONDS_OR_ZERO, "SLACK_TIMEOUT_SECONDS": _SECONDS,
    "PLAYBOOK_DISPATCH_BUDGET_SECONDS": _SECONDS,
    "CRM_DELETED_CHECK_MINUTES": (Annotated[float, Field(gt=0, allow_inf_nan=False)], "a number of minutes, more than 0"),
    "PLAYBOOK_WAIT_FOR_RECORD_HOURS": (Annotated[float, Field(gt=0, allow_inf_nan=False)],
                                       "a number of hours, more than 0"),
    "OIDC_REQUIRE_VERIFIED_EMAIL": (Literal["0", "1"], "0 or 1"),
    "SCORE_ENGINE": (Annotated[Literal["auto", "store", "duckdb", "spark"], BeforeValidator(lambda v: str(v).strip().lower())],
                     "one of auto, store, duckdb, spark"),
    "SETWISE_MIN_CHANGED": _ZERO_OR_MORE, "COLUMNAR_LAG_SECONDS": _ZERO_OR_MORE, "DUCKDB_THREADS": _COUNT,
    "DUCKDB_MEMORY_LIMIT": (Annotated[str, Field(pattern=r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")],
                            "a size such as 512MB or 2GB"),
}


def bad_setting_line(name: str, raw) -> str:
    """One line naming a setting, its bad value and what it expects."""
    expects = SETTING_TYPES[name][1] if name in SETTING_TYPES else "text"
    default = SETTINGS[name][0]
    fix = f"e.g. {name}={default}, or unset it for the default" if default else "or unset it"
    return f"{name}={str(raw)!r}: expected {expects}; {fix}"


class _SettingsBase(BaseSettings):
    # An empty variable means "the default", as `setting()` reads it; names are matched exactly, as os.environ.
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", case_sensitive=True)


def _settings_model() -> type[BaseSettings]:
    fields_ = {name: (SETTING_TYPES.get(name, (str,))[0] | None, None) for name in SETTINGS}
    return create_model("Settings", __base__=_SettingsBase, **fields_)


def load_settings(env: dict | None = None) -> BaseSettings:
    """Every setting parsed by pydantic-settings (from os.environ, or from `env` when given); unset ones are None.

    A bad value raises ConfigError with one line per bad setting (bad_setting_line).
    """
    model = _settings_model()
    try:
        if env is None:
            return model()
        return model.model_validate({k: v for k, v in env.items() if k in SETTINGS and v != ""})
    except ValidationError as exc:
        source = os.environ if env is None else env
        names = dict.fromkeys(str(e["loc"][0]) for e in exc.errors())
        raise ConfigError("\n".join(bad_setting_line(name, source.get(name, "")) for name in names)) from None


def typed_setting(name: str, env: dict | None = None):
    """One validated setting, converted to its type; its default (converted too) when unset."""
    value = getattr(load_settings(env), name)
    if value is None:
        value = getattr(load_settings({name: SETTINGS[name][0]}), name)
    return value


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
    metrics_token: str = field(repr=False)
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)
    oidc_provider_name: str = "SSO"
    oidc_scopes: str = "openid email profile"
    oidc_email_claim: str = "email"
    oidc_require_verified_email: int = 1
    oidc_hosted_domain: str = ""
    oidc_role_claim: str = ""
    oidc_role_map: str = ""
    oidc_allowed: str = ""

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "Config":
        """Read every setting from the environment, falling back to its default."""
        load_settings(env)  # every setting, not only Config's: a bad one stops here, named, in one line each
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
