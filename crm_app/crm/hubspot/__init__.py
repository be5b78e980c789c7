"""HubSpot CRM v3/v4 through hubspot-api-client: the adapter, contacts and companies, tasks, transport."""
from crm_app.crm.hubspot.adapter import HubSpotCrm

__all__ = ["HubSpotCrm"]
