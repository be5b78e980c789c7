"""The columnar copy: a DuckDB file the scoring worker owns, holding the events (typed columns for the
properties rules read), people and accounts, kept up to date from the store, and the plan run over it."""
