"""CRM adapters behind one small interface: sandbox (embedded), Salesforce, HubSpot."""
