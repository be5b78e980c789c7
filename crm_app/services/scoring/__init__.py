"""Scoring: the run (plan, features, evaluate, diff, save, accounts, segments) and explain."""
