"""Model-monitoring checks from the maintenance schedule: pure functions over figures the service gathers."""
from __future__ import annotations

import numpy as np

MIN_LIFT = 2.0
MAX_BUCKET_SHARE = 0.5
MAX_NOT_A_FIT = 0.25
VOLUME_RANGE = (2.0, 20.0)
MAX_PSI = 0.25  # population stability index above 0.25 is the usual "significant shift"


def _result(check: str, status: str, message: str, value=None) -> dict:
    return {"check": check, "status": status, "message": message, "value": value}


def check_lift(lift: float | None) -> dict:
    if lift is None:
        return _result("pql_lift", "unknown", "no backtest yet: run `python -m crm_app backtest` first")
    if lift < MIN_LIFT:
        return _result("pql_lift", "flag", f"PQLs convert at {lift:.2f}x non-PQLs, below {MIN_LIFT:g}x "
                       "(aim for 3-5x): revisit the rules or the threshold", lift)
    return _result("pql_lift", "ok", f"PQLs convert at {lift:.2f}x non-PQLs", lift)


def buckets(scores) -> np.ndarray:
    """Shares of scores in 0-25, 26-50, 51-75, 76-100."""
    arr = np.asarray(scores, dtype=float)
    edges = np.digitize(arr, [25.5, 50.5, 75.5])
    return np.bincount(edges, minlength=4)[:4] / max(1, len(arr))


def check_clustered(model: str, scores) -> dict:
    if len(scores) == 0:
        return _result(f"clustered:{model}", "unknown", f"{model}: no scores yet")
    shares = buckets(scores)
    top = int(shares.argmax())
    names = ["0-25", "26-50", "51-75", "76-100"]
    if shares[top] > MAX_BUCKET_SHARE:
        return _result(f"clustered:{model}", "flag", f"{model}: {shares[top]:.0%} of people are in bucket {names[top]} "
                       "(more than 50%): the score does not separate them", round(float(shares[top]), 4))
    return _result(f"clustered:{model}", "ok", f"{model}: largest bucket {names[top]} holds {shares[top]:.0%}",
                   round(float(shares[top]), 4))


def check_not_a_fit(pqls_with_feedback: int | None, not_a_fit: int | None) -> dict:
    if not pqls_with_feedback:
        return _result("not_a_fit", "unknown", "no Slack feedback on PQLs recorded yet")
    share = not_a_fit / pqls_with_feedback
    status = "flag" if share > MAX_NOT_A_FIT else "ok"
    return _result("not_a_fit", status, f"{share:.0%} of PQLs with feedback were marked 'Not a fit' "
                   f"({not_a_fit} of {pqls_with_feedback}); the limit is 25%", round(share, 4))


def check_volume(per_rep_week: float | None) -> dict:
    if per_rep_week is None:
        return _result("pql_volume", "unknown", "no PQL volume yet")
    lo, hi = VOLUME_RANGE
    if per_rep_week > hi or per_rep_week < lo:
        side = "more than 20 (reps cannot follow up)" if per_rep_week > hi else "fewer than 2 (too little to act on)"
        return _result("pql_volume", "flag", f"{per_rep_week:.1f} new PQLs per rep per week: {side}", per_rep_week)
    return _result("pql_volume", "ok", f"{per_rep_week:.1f} new PQLs per rep per week", per_rep_week)


def check_sync(failures: int | None) -> dict:
    if failures is None:
        return _result("sync_failures", "unknown", "no CRM sync log in this store yet")
    if failures:
        return _result("sync_failures", "flag", f"{failures} failed CRM sync run(s) recorded by the worker", failures)
    return _result("sync_failures", "ok", "no failed CRM sync runs recorded by the worker", 0)


def psi(reference, current, bins: int = 10) -> float:
    """Population stability index between two score distributions over fixed 0-100 bins."""
    edges = np.linspace(0, 100, bins + 1)
    ref = np.histogram(np.asarray(reference, dtype=float), edges)[0] / max(1, len(reference))
    cur = np.histogram(np.asarray(current, dtype=float), edges)[0] / max(1, len(current))
    ref, cur = np.clip(ref, 1e-4, None), np.clip(cur, 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def check_drift(model: str, at_launch, now) -> dict:
    if len(at_launch) == 0 or len(now) == 0:
        return _result(f"drift:{model}", "unknown", f"{model}: not enough score history for a drift check")
    value = psi(at_launch, now)
    status = "flag" if value > MAX_PSI else "ok"
    return _result(f"drift:{model}", status, f"{model}: score distribution shift since launch PSI {value:.3f} "
                   f"(flag above {MAX_PSI})", round(value, 4))
