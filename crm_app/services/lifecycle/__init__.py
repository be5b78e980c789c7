"""Lifecycle models: training data and training, reports, backtests, model monitoring, customer-health KPIs."""
