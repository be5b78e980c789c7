"""Champion and challenger: a retrained model replaces the live one only if it is not worse, within a tolerance,
on the measure that matters most: ROC AUC on later subjects than it learned from. When the live version can be
scored again, both are judged on the challenger's newest out-of-time period; otherwise on their stored metrics.
"""
from __future__ import annotations

from datetime import datetime, timezone


def comparable(champion: dict, challenger: dict) -> tuple[str, float, float]:
    """(measure, champion's value, challenger's value): time-aware when both were validated the same way."""
    a, b = champion.get("time_aware"), challenger.get("time_aware")
    if a and b and a["kind"] == b["kind"]:
        return f"{a['kind']} ROC AUC", float(a["roc_auc"]), float(b["roc_auc"])
    return "shuffled cross-validated ROC AUC", float(champion["roc_auc"]), float(challenger["roc_auc"])


def _moment(value: float) -> str:
    if value >= 1e8:  # epoch seconds; a plain number otherwise (a time field that is not a date)
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d")
    return f"{value:g}"


def decide(champion: dict | None, challenger: dict | None, tolerance: float, champion_version: int | None,
           remeasured: dict | None = None) -> dict:
    """Whether the challenger goes live, and why, in words an admin reads in `models history`; `remeasured`:
    both versions' ROC AUC on the challenger's newest period (services.lifecycle.remeasure)."""
    if challenger is None:
        return {"promoted": False, "reason": "not trained (too few subjects at the goal); the live version stays"}
    if champion is None:
        return {"promoted": True, "reason": "no live version yet"}
    extra, note = {}, ""
    if remeasured:
        measure = (f"ROC AUC on the newest period ({_moment(remeasured['from'])} to {_moment(remeasured['to'])}, "
                   f"{remeasured['n']} subjects)")
        old, new = remeasured["champion"], remeasured["challenger"]
        extra["period"] = {k: remeasured[k] for k in ("from", "to", "n", "champion_saw")}
        if remeasured["champion_saw"]:
            note = f"; v{champion_version} learned from {remeasured['champion_saw']} of these subjects"
    else:
        measure, old, new = comparable(champion, challenger)
    promoted = new >= old - tolerance
    verdict = "replaces" if promoted else "does not replace"
    return {"promoted": promoted, "measure": measure, "champion": champion_version, "champion_value": old,
            "challenger_value": new, "tolerance": tolerance, **extra,
            "reason": f"{measure} {new:.3f} against v{champion_version}'s {old:.3f} (tolerance {tolerance:g}"
                      f"{note}): {verdict} it"}
