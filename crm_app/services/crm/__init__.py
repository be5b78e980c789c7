"""The CRM side of a run: provision the score fields, sync records in, write changed scores back, count API calls."""
