"""The set-wise plan on Apache Spark: the session, the plan's relations as Spark views, and the scoring run
that brings back only changed results."""
