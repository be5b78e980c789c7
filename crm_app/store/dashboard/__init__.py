"""Tables and queries of the dashboard, and the indexes its pages read through."""
