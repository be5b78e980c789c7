"""The CRM adapter registry: CRM=sandbox|salesforce|hubspot picks one, credentials come from the environment."""
from __future__ import annotations

import os
from typing import Callable

from crm_app.crm.settings import CRM_SETTINGS as SETTINGS
from crm_app.crm.base import CrmError
from crm_app.crm.retry import RetryPolicy
from crm_app.errors import did_you_mean


def setting(name: str, env: dict | None = None) -> str:
    """A setting from the environment, or its default from SETTINGS."""
    env = os.environ if env is None else env
    return env.get(name, SETTINGS[name][0])


def _policy(env) -> RetryPolicy:
    return RetryPolicy(attempts=int(setting("CRM_RETRY_ATTEMPTS", env)))


def _sandbox(env):
    from crm_app.crm.sandbox import SandboxCrm
    return SandboxCrm(setting("CRM_SANDBOX_PATH", env))


def _salesforce(env):
    from crm_app.crm.salesforce import SalesforceCrm
    adapter = SalesforceCrm(
        instance_url=setting("SALESFORCE_INSTANCE_URL", env) or None,
        session_id=setting("SALESFORCE_SESSION_ID", env) or None,
        username=setting("SALESFORCE_USERNAME", env) or None, password=setting("SALESFORCE_PASSWORD", env) or None,
        security_token=setting("SALESFORCE_SECURITY_TOKEN", env) or None,
        consumer_key=setting("SALESFORCE_CONSUMER_KEY", env) or None,
        consumer_secret=setting("SALESFORCE_CONSUMER_SECRET", env) or None,
        domain=setting("SALESFORCE_DOMAIN", env) or None, ca_bundle=setting("CRM_CA_BUNDLE", env) or None,
        version=setting("SALESFORCE_API_VERSION", env),
        bulk_threshold=int(setting("SALESFORCE_BULK_THRESHOLD", env)),
        timeout=float(setting("CRM_TIMEOUT_SECONDS", env)), policy=_policy(env))
    adapter.settle_seconds = int(setting("SALESFORCE_SETTLE_SECONDS", env))
    return adapter


def _hubspot(env):
    from crm_app.crm.hubspot import HubSpotCrm
    return HubSpotCrm(setting("HUBSPOT_ACCESS_TOKEN", env), host=setting("HUBSPOT_HOST", env),
                      ca_bundle=setting("CRM_CA_BUNDLE", env) or None,
                      timeout=float(setting("CRM_TIMEOUT_SECONDS", env)), policy=_policy(env))


ADAPTERS: dict[str, Callable] = {"sandbox": _sandbox, "salesforce": _salesforce, "hubspot": _hubspot}


def make_adapter(env: dict | None = None):
    """The adapter named by CRM; an unknown name lists the valid ones."""
    name = setting("CRM", env).strip().lower()
    if name not in ADAPTERS:
        hint = did_you_mean(name, ADAPTERS)
        raise CrmError(f"CRM={name!r} is not one of: {', '.join(ADAPTERS)}" + (f" (did you mean {hint!r}?)"
                                                                            if hint else ""))
    return ADAPTERS[name](env)
