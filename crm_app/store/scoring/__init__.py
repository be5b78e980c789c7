"""Tables and queries of scoring: set-wise features, results and history, rollups, score segments, KPIs."""
