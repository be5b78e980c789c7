"""The pure scoring engine. It does no I/O and never reads the clock: `as_of` is always passed in.

A test (tests/test_engine_purity.py) reads these modules' imports with `ast` and fails if that changes.
"""
from crm_app.engine.scoring import compile_model, evaluate, in_population
from crm_app.engine.result import Reason, ScoreResult

__all__ = ["evaluate", "compile_model", "in_population", "Reason", "ScoreResult"]
