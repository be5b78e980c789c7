"""Environment settings of the CRM integration; merged into config.SETTINGS (docs/operations.md documents each)."""
from __future__ import annotations

CRM_SETTINGS: dict[str, tuple[str, str]] = {
    "CRM": ("sandbox", "which CRM the service writes to: sandbox | salesforce | hubspot"),
    "CRM_SANDBOX_PATH": ("var/crm-sandbox.db", "SQLite file of the embedded sandbox CRM"),
    "CRM_MAPPING_FILE": ("mapping/crm.yaml", "data mapping from CRM fields to ours, relative to SPECS_ROOT"),
    "CRM_CREATE_FILE": ("mapping/create.yaml", "record-creation policy, relative to SPECS_ROOT; no file = create none"),
    "CRM_CA_BUNDLE": ("", "PEM file of CAs to trust for the CRM's TLS (a proxy or a test emulator); empty = system"),
    "CRM_TIMEOUT_SECONDS": ("30", "timeout of one CRM HTTP request"),
    "CRM_DELETED_CHECK_MINUTES": ("60", "how often sync looks for records deleted without a change it can read "
                                  "(Salesforce delete log, HubSpot archived records); every full sync looks"),
    "CRM_RETRY_ATTEMPTS": ("6", "attempts per CRM call on 429 / 5xx / lost connections, with exponential backoff"),
    "SALESFORCE_INSTANCE_URL": ("", "https://yourorg.my.salesforce.com (with SALESFORCE_SESSION_ID)"),
    "SALESFORCE_SESSION_ID": ("", "an OAuth access token / session id for the integration user"),
    "SALESFORCE_USERNAME": ("", "integration user name (username + password + token or connected app login)"),
    "SALESFORCE_PASSWORD": ("", "integration user password"),
    "SALESFORCE_SECURITY_TOKEN": ("", "security token of the integration user (username + password login)"),
    "SALESFORCE_CONSUMER_KEY": ("", "connected app consumer key (OAuth password or client-credentials flow)"),
    "SALESFORCE_CONSUMER_SECRET": ("", "connected app consumer secret"),
    "SALESFORCE_DOMAIN": ("login", "login domain: login (production), test (sandbox) or your My Domain"),
    "SALESFORCE_API_VERSION": ("59.0", "Salesforce REST API version"),
    "SALESFORCE_BULK_THRESHOLD": ("2000", "write-backs of at least this many records use Bulk API 2.0"),
    "SALESFORCE_SETTLE_SECONDS": ("2", "sync reads records stamped at least this many seconds ago (a second still "
                                       "going on may get more records), whole seconds"),
    "HUBSPOT_ACCESS_TOKEN": ("", "private app access token"),
    "HUBSPOT_HOST": ("https://api.hubapi.com", "HubSpot API base URL"),
}
