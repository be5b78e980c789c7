"""Admin message templates (Jinja, sandboxed): the one environment that checks and renders them."""
