"""Salesforce REST, Tooling and Bulk 2.0 through simple-salesforce: the adapter, people, fields, bulk writes."""
from crm_app.crm.salesforce.adapter import NO_ASSIGN, SalesforceCrm

__all__ = ["NO_ASSIGN", "SalesforceCrm"]
