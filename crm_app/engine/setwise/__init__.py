"""Rule models compiled to one set-wise relational plan: every subject at once, in any SQL engine.

ir: a small expression tree and its rendering per SQL dialect (DuckDB now; Spark SQL renders the same tree).
features: the engine.plan aggregates as conditional aggregates over an events relation.
scores: each model's rules, recency, decay, clamp, bands, PQL and activation as columns over the features.
reasons: a plan row back into the engine's ScoreResult, reason texts included (explain, previews, Spark).
stored: a result's stored form (reasons JSON, digest) as SQL over the plan's row, for the DuckDB engine's writes.
"""
