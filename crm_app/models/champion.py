"""Champion and challenger: a retrained model replaces the live one only if it is not worse, within a tolerance,
on the measure that matters most: ROC AUC on later subjects than it learned from, when both have one."""
from __future__ import annotations


def comparable(champion: dict, challenger: dict) -> tuple[str, float, float]:
    """(measure, champion's value, challenger's value): time-aware when both were validated the same way."""
    a, b = champion.get("time_aware"), challenger.get("time_aware")
    if a and b and a["kind"] == b["kind"]:
        return f"{a['kind']} ROC AUC", float(a["roc_auc"]), float(b["roc_auc"])
    return "shuffled cross-validated ROC AUC", float(champion["roc_auc"]), float(challenger["roc_auc"])


def decide(champion: dict | None, challenger: dict | None, tolerance: float, champion_version: int | None) -> dict:
    """Whether the challenger goes live, and why, in words an admin reads in `models history`."""
    if challenger is None:
        return {"promoted": False, "reason": "not trained (too few subjects at the goal); the live version stays"}
    if champion is None:
        return {"promoted": True, "reason": "no live version yet"}
    measure, old, new = comparable(champion, challenger)
    promoted = new >= old - tolerance
    verdict = "replaces" if promoted else "does not replace"
    return {"promoted": promoted, "measure": measure, "champion": champion_version, "champion_value": old,
            "challenger_value": new, "tolerance": tolerance,
            "reason": f"{measure} {new:.3f} against v{champion_version}'s {old:.3f} (tolerance {tolerance:g}): "
                      f"{verdict} it"}
