"""Propensity models (scikit-learn), indicators (lift, breakdown), backtests and model-monitoring checks.

The modules here are pure: they take records, features and labels and return numbers and reports. The
store is read and written by the modules of crm_app.services.lifecycle.
"""
