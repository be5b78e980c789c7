"""Leak detection by behaviour: separation alone or per category, presence that tells the outcome, values that
are sales-activity outcomes with lift or written after the goal; a column's name is a hint, never the only
evidence. On Leads.csv with every column renamed to a neutral name."""
from __future__ import annotations

import csv
import functools
import textwrap
from pathlib import Path

import numpy as np
import pytest

from crm_app.models.activity_values import is_activity
from crm_app.models.advice import leak_screen
from crm_app.models.dataset import Column, field_columns

N = 2000
REPO = Path(__file__).resolve().parents[1]
LEADS = REPO.parent / "shared" / "datasets" / "x_education" / "Leads.csv"


def outcome(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(N) < 0.4).astype(int)


def noisy_copy(y, flip: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(len(y)) < flip, 1 - y, y)


def column(name: str, values, kind: str = "categorical", source: str = "field") -> Column:
    return Column(name, kind, tuple(None if v is None else (float(v) if kind == "numeric" else str(v))
                                    for v in values), source)


def closed_won(y, share: float):
    """'won' given to `share` of subjects after they converted and 'lost' to as many who did not; others get
    ordinary values."""
    rng = np.random.default_rng(2)
    won = (y == 1) & (rng.random(len(y)) < share / 2 / y.mean())
    lost = (y == 0) & (rng.random(len(y)) < share / 2 / (1 - y.mean()))
    return ["won" if w else "lost" if lo else rng.choice(["a", "b", "c"]) for w, lo in zip(won, lost)]


def rarely_churns(y, share: float):
    """A real behaviour after which the outcome is very unlikely, one way only (a two-year contract)."""
    rng = np.random.default_rng(7)
    picked = (y == 0) & (rng.random(len(y)) < share / (1 - y.mean()))
    return ["two_year" if p else rng.choice(["monthly", "yearly"]) for p in picked]


def filled_after(y, values):
    """Filled in for 90% of those who converted and 30% of the others."""
    rng = np.random.default_rng(3)
    keep = rng.random(len(y)) < np.where(y == 1, 0.9, 0.3)
    return [v if k else None for v, k in zip(values, keep)]


def product_signal(y, seed: int = 4):
    """An honest behavioural indicator: more usage among converters, heavily overlapping (ROC AUC about 0.75)."""
    rng = np.random.default_rng(seed)
    return rng.normal(y * 0.95, 1.0)


Y = outcome()
CASES = [
    ("the goal in disguise", column("c1", noisy_copy(Y, 0.03)), "likely", "alone it predicts the goal"),
    ("a closing value for 10%", column("c2", closed_won(Y, 0.10)), "likely", "all but decides the outcome"),
    ("a closing value for 3%, filled after", column("c3", filled_after(Y, closed_won(Y, 0.06))), "likely",
     "whether it is filled in predicts"),
    ("presence alone", column("c4", filled_after(Y, ["x"] * N)), "check", "whether it is filled in predicts"),
    ("a value that makes the goal unlikely, one way only", column("c6", rarely_churns(Y, 0.2)), "check",
     "all but decides the outcome"),
    ("honest usage", column("c5", product_signal(Y), "numeric"), None, None),
    ("honest usage named like a score", column("usage_score", product_signal(Y), "numeric", "event"), None, None),
    ("a sales-sounding name without signal", column("lead_status", np.random.default_rng(5).choice(
        ["new", "open"], N)), None, None),
    ("a sales-sounding name with signal", column("lead_rating", product_signal(Y, 6).round()), "likely",
     "its name ('rating')"),
]


@pytest.mark.parametrize("label, col, severity, message", CASES, ids=[c[0] for c in CASES])
def test_leaks_are_found_by_behaviour(label, col, severity, message):
    found = {f["indicator"]: f for f in leak_screen([col], Y)}
    if severity is None:
        assert col.name not in found, found
        return
    assert found[col.name]["severity"] == severity and message in found[col.name]["message"]


ACTIVITY = ["SMS sent", "Meeting booked", "Left voicemail", "Call - no answer", "Not interested"]
PRODUCT = ["Pricing page", "Docs", "Signup form", "Webinar", "Mobile app"]
BY_OUTCOME = {1: [0.35, 0.25, 0.2, 0.1, 0.1], 0: [0.1, 0.1, 0.2, 0.3, 0.3]}  # lift 3.5 down to 1/3, none certain


def drawn(y, values, lifted: bool, seed: int = 8):
    """One of `values` per subject, drawn by outcome (`lifted`) or regardless of it."""
    rng = np.random.default_rng(seed)
    return [str(rng.choice(values, p=BY_OUTCOME[int(t)] if lifted else [0.2] * 5)) for t in y]


def mostly_product(y):
    """Lifted activity values for a quarter of the subjects, product values for the rest."""
    rng = np.random.default_rng(9)
    return [a if rng.random() < 0.25 else p for a, p in zip(drawn(y, ACTIVITY, True), drawn(y, PRODUCT, True, 10))]


WRITTEN_AFTER, STEADY = (0, 50, 15), (0, 50, 2)  # (filled after the goal, converted with known moment, changed after)
ACTIVITY_CASES = [
    ("activity outcomes with lift", column("c7", drawn(Y, ACTIVITY, True)), None, "likely",
     "sales-activity outcomes and for"),
    ("activity outcomes without lift", column("c7", drawn(Y, ACTIVITY, False)), None, None, None),
    ("product values with lift", column("c8", drawn(Y, PRODUCT, True)), None, None, None),
    ("a few activity outcomes among product values", column("c8", mostly_product(Y)), None, None, None),
    ("activity outcomes without lift written after the goal", column("c7", drawn(Y, ACTIVITY, False)),
     WRITTEN_AFTER, "likely", "written after the goal was reached for 15 of 50"),
    ("activity outcomes without lift and steady", column("c7", drawn(Y, ACTIVITY, False)), STEADY, None, None),
    ("product values without lift changed after the goal for some", column("c8", drawn(Y, PRODUCT, False)),
     WRITTEN_AFTER, None, None),
]


@pytest.mark.parametrize("label, col, timing, severity, message", ACTIVITY_CASES, ids=[c[0] for c in ACTIVITY_CASES])
def test_sales_activity_values_are_found_by_lift_or_timing(label, col, timing, severity, message):
    found = {f["indicator"]: f for f in leak_screen([col], Y, {col.name: timing} if timing else None)}
    if severity is None:
        assert col.name not in found, found
        return
    assert found[col.name]["severity"] == severity and message in found[col.name]["message"], found


VALUES = [
    *[(v, True) for v in ("SMS Sent", "Had a Phone Conversation", "Email Bounced", "Unreachable", "Unsubscribed",
                          "Converted to Lead", "Closed Won", "closed-lost", "Left voicemail", "No answer",
                          "Demo scheduled", "Replied to email", "Interested in other courses", "Call back later")],
    *[(v, False) for v in ("Landing Page Submission", "Olark Chat", "Google", "Lead Add Form", "Click2call", "Email",
                           "SMS", "Live Chat", "Phone", "No phone service", "Mailed check", "Two year",
                           "Working Professional", "Page Visited on Website", None, 3.0)],
]


@pytest.mark.parametrize("value, activity", VALUES, ids=[str(v) for v, _ in VALUES])
def test_values_are_read_as_sales_activity_outcomes_by_whole_words(value, activity):
    assert is_activity(value) is activity


SALES_COLUMNS = ["Tags", "Lead Quality", "Lead Profile", "Last Activity", "Last Notable Activity"]
MISSED_WITHOUT_NAMES = ["Asymmetrique Activity Index", "Asymmetrique Profile Index", "Asymmetrique Activity Score",
                        "Asymmetrique Profile Score"]


@pytest.fixture(scope="module")
def neutral_leads(tmp_path_factory):
    """Leads.csv with every column renamed c00, c01, ..., imported and trained with no exclusions."""
    if not LEADS.is_file():
        pytest.skip(f"{LEADS} is not on this machine")
    from crm_app.cli import main
    from crm_app.services.lifecycle.training import latest_report
    tmp = tmp_path_factory.mktemp("neutral")
    with LEADS.open(newline="") as f:
        rows = list(csv.reader(f))
    header = [h for h in rows[0]]
    names = {h: f"c{k:02d}" for k, h in enumerate(header) if h}
    with (tmp / "leads.csv").open("w", newline="") as f:
        csv.writer(f).writerows([[names.get(h, "") for h in header], *rows[1:]])
    (tmp / "map.yaml").write_text(f"id: {names['Prospect ID']}\nmissing_values: ['', 'Select']\n")
    for folder in ("lifecycle", "rules"):
        (tmp / folder).mkdir()
    (tmp / "rules" / "conversion.yaml").write_text((REPO / "rules" / "conversion.yaml").read_text())
    (tmp / "rules" / "lists.yaml").write_text((REPO / "rules" / "lists.yaml").read_text())
    (tmp / "lifecycle" / "neutral.yaml").write_text(textwrap.dedent(f"""
        model: neutral
        stage: conversion
        goal: {{field: {names['Converted']}, equals: 1}}
        algorithm: logistic
    """))
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", f"sqlite:///{tmp / 'store.db'}")
    mp.setenv("SPECS_ROOT", str(tmp))
    try:
        assert main(["import", "people", str(tmp / "leads.csv"), "--mapping", str(tmp / "map.yaml"), "--quiet"]) == 0
        main(["train", "neutral", "--quiet"])
        from crm_app.store import Store
        report = latest_report(Store(f"sqlite:///{tmp / 'store.db'}"), "neutral")
    finally:
        mp.undo()
    return report, names


def test_neutral_names_still_flag_the_sales_columns_whose_values_give_them_away(neutral_leads):
    report, names = neutral_leads
    likely = {a["indicator"] for a in report["advice"] if a["kind"] == "leak"}
    assert {names[c] for c in SALES_COLUMNS} <= likely, report["advice"]
    product = {names[c] for c in ("Total Time Spent on Website", "TotalVisits", "Lead Origin", "Lead Source")}
    assert not likely & product


@pytest.mark.xfail(strict=True, reason="the Asymmetrique indices and scores are computed from a lead's activity and "
                   "profile (the data dictionary), not sales-activity outcomes, and nothing in their behaviour marks "
                   "them as written after the outcome: their values ('02.Medium', 15-20) are no activity words, their "
                   "most decisive values are weaker than genuine ones (Profile Score 19-20 converts 71-74% against "
                   "Lead Origin 'Lead Add Form' 92%), and they are missing for 46% of leads in a band of lead "
                   "numbers (a period), not by outcome (39% against 38% converted)")
@pytest.mark.parametrize("column_name", MISSED_WITHOUT_NAMES)
def test_neutral_names_flag_the_computed_indices(neutral_leads, column_name):
    report, names = neutral_leads
    assert names[column_name] in {a["indicator"] for a in report["advice"] if a["kind"] == "leak"}


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


@functools.cache
def screened(dataset: str) -> dict:
    """Original column name -> severity (None: not flagged) from leak_screen over the data set's fields renamed
    c00, c01, ... so that only their values speak."""
    path, target, positive, skip = DATASETS[dataset]
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    names = {h: f"c{k:02d}" for k, h in enumerate(rows[0]) if h and h != target and h not in skip}
    records = {i: {names[h]: None if v in ("", "Select") else _number(v.strip()) for h, v in row.items() if h in names}
               for i, row in enumerate(rows)}
    y = np.array([int(row[target] == positive) for row in rows])
    found = {f["indicator"]: f["severity"] for f in leak_screen(field_columns(list(records), records, set()), y)}
    return {h: found.get(n) for h, n in names.items()}


DATASETS = {
    "leads": (LEADS, "Converted", "1", {"Prospect ID", "Lead Number"}),
    "telco": (REPO.parent / "shared" / "datasets" / "telco" / "Telco-Customer-Churn.csv", "Churn", "Yes",
              {"customerID"}),
}
LIKELY, NOT_LIKELY = True, False
FLAGGED = [
    *[("leads", c, LIKELY) for c in SALES_COLUMNS],
    *[("leads", c, NOT_LIKELY) for c in (
        "Lead Origin", "Lead Source", "Do Not Email", "TotalVisits", "Total Time Spent on Website",
        "Page Views Per Visit", "Country", "Specialization", "How did you hear about X Education",
        "What is your current occupation", "What matters most to you in choosing a course", "City",
        "A free copy of Mastering The Interview")],
    *[("telco", c, NOT_LIKELY) for c in (
        "gender", "SeniorCitizen", "Partner", "Dependents", "tenure", "PhoneService", "MultipleLines",
        "InternetService", "OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
        "StreamingMovies", "Contract", "PaperlessBilling", "PaymentMethod", "MonthlyCharges", "TotalCharges")],
]


@pytest.mark.parametrize("dataset, column_name, likely", FLAGGED, ids=[f"{d}:{c}" for d, c, _ in FLAGGED])
def test_neutral_names_flag_sales_columns_and_not_product_ones(dataset, column_name, likely):
    assert (screened(dataset)[column_name] == "likely") is likely, screened(dataset)
