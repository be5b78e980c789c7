"""Training advice a careful analyst would give: narrow goals, likely leaks, clustered scores, missing data."""
from __future__ import annotations

import re

import numpy as np

from crm_app.models import leaks
from crm_app.models.dataset import Column

# Words in a field name that usually mean sales or support fill it in after talking to the subject. A hint only:
# with signal or one piece of behavioural evidence (models.leaks) it makes a likely leak, never alone.
AFTER_THE_FACT_WORDS = {"quality", "profile", "tag", "tags", "score", "rating", "grade", "status", "stage",
                        "disposition", "outcome", "result", "reason", "assessment", "notes", "qualified"}
SIGNAL_AUC = 0.60
SAME_ROWS = 0.95


def _words(name: str) -> set:
    return set(re.split(r"[^a-z0-9]+", name.lower()))


def _missing_rows(col: Column) -> np.ndarray:
    return np.array([v is None for v in col.values])


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0


def leak_screen(columns: list[Column], y: np.ndarray, timing: dict | None = None) -> list[dict]:
    """Indicators that behave like the goal itself or like fields filled in after the outcome (`timing`: per
    field, from field history, see training_data.fill_timing)."""
    found = {}
    for col in columns:
        ev = leaks.evidence(col, y, (timing or {}).get(col.name))
        hint = sorted(_words(col.name) & AFTER_THE_FACT_WORDS) if col.source == "field" else []
        if ev.strong:
            found[col.name] = ("likely", "; ".join(ev.strong + ev.supporting) + ": it looks like the goal itself "
                               "or is set once the outcome is known")
        elif len(ev.supporting) >= 2:
            found[col.name] = ("likely", "; ".join(ev.supporting) + ": it is most likely set once the outcome is "
                               "known")
        elif hint and (ev.supporting or ev.auc >= SIGNAL_AUC):
            detail = ev.supporting[0] if ev.supporting else f"alone it reaches ROC AUC {ev.auc:.2f}"
            found[col.name] = ("likely", f"its name ('{hint[0]}') suggests sales fills it in after contact, and "
                               f"{detail}")
        elif ev.supporting:
            found[col.name] = ("check", f"{ev.supporting[0]}; if it is recorded after the outcome, exclude it")
    _add_siblings(columns, found)
    return [{"indicator": name, "severity": sev, "message": msg} for name, (sev, msg) in found.items()]


def _add_siblings(columns: list[Column], found: dict) -> None:
    """Fields missing in the same rows as a likely leak were filled in by the same after-the-fact process."""
    missing = {c.name: _missing_rows(c) for c in columns}
    leaks = [n for n, (sev, _) in found.items() if sev == "likely" and missing[n].mean() >= 0.05]
    for col in columns:
        if found.get(col.name, ("",))[0] == "likely":
            continue
        for leak in leaks:
            if _jaccard(missing[col.name], missing[leak]) >= SAME_ROWS:
                found[col.name] = ("likely", f"it is missing in the same rows as '{leak}' (a likely leak), "
                                   "so the same after-the-fact process fills it in")
                break


def advise(model_name: str, positives: int, negatives: int, min_positives: int, columns: list[Column],
           leaks: list[dict], metrics: dict | None, scores: list[int], identifiers: list[str]) -> list[dict]:
    """Concrete recommendations, most important first."""
    out = []
    if positives < min_positives:
        out.append({"kind": "goal_too_narrow", "severity": "error",
                    "message": f"Only {positives} subjects reached the goal; at least {min_positives} are needed to "
                    f"learn from ({min_positives - positives} more). Widen the goal, lengthen the history or "
                    "lower min_positives only if you accept a noisy model."})
    if negatives < min_positives:
        out.append({"kind": "goal_too_broad", "severity": "error",
                    "message": f"Only {negatives} subjects did not reach the goal; at least {min_positives} are "
                    "needed. Narrow the goal or the filter."})
    likely = [leak["indicator"] for leak in leaks if leak["severity"] == "likely"]
    for leak in leaks:
        out.append({"kind": "leak" if leak["severity"] == "likely" else "check_leak",
                    "severity": "warning" if leak["severity"] == "likely" else "info",
                    "indicator": leak["indicator"], "message": f"'{leak['indicator']}': {leak['message']}."})
    if likely:
        out.append({"kind": "exclude", "severity": "warning",
                    "message": f"Exclude the likely leaks and retrain: python -m crm_app indicators {model_name} "
                    f"--exclude {','.join(likely)} --retrain", "exclude": likely})
    if metrics and metrics.get("roc_auc", 0) >= 0.97:
        out.append({"kind": "too_good", "severity": "warning",
                    "message": f"Cross-validated ROC AUC {metrics['roc_auc']:.3f} is too good to be true for a "
                    "propensity model; an indicator most likely encodes the outcome."})
    elif metrics and metrics.get("roc_auc", 1) < 0.6:
        out.append({"kind": "weak", "severity": "info",
                    "message": f"ROC AUC {metrics['roc_auc']:.3f}: these indicators barely predict the goal; add "
                    "product events or fields closer to the goal."})
    out.extend(_clustered(scores))
    out.extend(_missing(columns, identifiers))
    return out


def _clustered(scores: list[int]) -> list[dict]:
    if not scores:
        return []
    buckets = np.bincount(np.clip((np.array(scores) - 1) // 25, 0, 3), minlength=4) / len(scores)
    top = int(buckets.argmax())
    if buckets[top] <= 0.5:
        return []
    names = ["1–25", "26–50", "51–75", "76–100"]
    return [{"kind": "clustered", "severity": "warning",
             "message": f"{buckets[top]:.0%} of scored subjects fall in bucket {names[top]}: the distribution is "
             "clustered, so the score separates few of them. The scored population may differ from the training "
             "one, or the indicators have few distinct values."}]


def _missing(columns: list[Column], identifiers: list[str]) -> list[dict]:
    out = []
    sparse = sorted((c for c in columns if c.missing_share() > 0.5), key=lambda c: -c.missing_share())
    if sparse:
        listed = ", ".join(f"{c.name} ({c.missing_share():.0%})" for c in sparse[:8])
        out.append({"kind": "missing_data", "severity": "info",
                    "message": f"{len(sparse)} indicator(s) are missing for more than half the subjects: {listed}. "
                    "Fill them in upstream or map the right column."})
    if not any(c.source == "event" and any(v for v in c.values) for c in columns):
        out.append({"kind": "missing_data", "severity": "info",
                    "message": "No product events for this population: only fields and metrics were used. "
                    "Send usage events to learn behavioural indicators."})
    if identifiers:
        out.append({"kind": "identifier", "severity": "info",
                    "message": f"Left out as identifiers or free text (unique per subject): {', '.join(identifiers)}."})
    return out
