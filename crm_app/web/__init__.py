"""Flask blueprints: ingest API, health (the Slack endpoint and dashboard join them)."""
