"""KPIs by health score: upsell rate of high scores, churn rate of low scores, how well the score predicts churn.

Outcomes come from a record field (churn: Yes/No, as in the Telco data) or from events after the
moment the scores describe (e.g. 'Subscription Cancelled', 'Plan Upgraded'). The `monitor` command
shows them as the `health_kpis:<model>` check; `python -m crm_app health-kpis` prints the full report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from crm_app.store import Store
from crm_app.store.scoring import kpis as kpi_store

TRUE_WORDS = {"yes", "true", "1", "y", "churned", "t"}
NO_SEGMENT = "(none)"
# Segments from most to least churn-prone: churn rates should not rise along this order.
RISK_ORDER = ("risk", "at_risk", NO_SEGMENT, "loyal_customer", "upsell_candidate")


@dataclass
class SegmentKpi:
    customers: int = 0
    churned: int = 0
    churn_known: int = 0
    upsold: int = 0
    upsell_known: int = 0

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.churn_known if self.churn_known else None

    @property
    def upsell_rate(self) -> float | None:
        return self.upsold / self.upsell_known if self.upsell_known else None


@dataclass
class HealthKpis:
    customers: int
    high: float
    low: float
    upsell_rate_high: float | None
    upsell_rate_rest: float | None
    churn_rate_low: float | None
    churn_rate_rest: float | None
    churn_auc: float | None  # P(a churner scored lower than a customer who stayed); 0.5 = no better than chance
    churn_accuracy: float | None  # share right when "score at or below low" predicts churn
    segments: dict = field(default_factory=dict)  # segment id -> SegmentKpi
    ordered: bool | None = None  # do the segments order churn risk correctly?


def truthy(value) -> bool | None:
    """'Yes'/'No', true/false, 1/0 -> bool; None when unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def churn_auc(scores_churned: list, scores_stayed: list) -> float | None:
    """Mann–Whitney AUC that a lower score means churn, ties counting half; None without both classes."""
    if not scores_churned or not scores_stayed:
        return None
    pooled = sorted([(s, 1) for s in scores_churned] + [(s, 0) for s in scores_stayed])
    # rank-sum over tied groups: O(n log n), fine for a million customers
    wins, stayed_below, i = 0.0, 0, 0
    while i < len(pooled):
        j = i
        while j < len(pooled) and pooled[j][0] == pooled[i][0]:
            j += 1
        group = pooled[i:j]
        churn_here = sum(c for _, c in group)
        stayed_here = len(group) - churn_here
        # a churner beats every stayer with a strictly higher score; ties are half
        wins += churn_here * (len(scores_stayed) - stayed_below - stayed_here) + 0.5 * churn_here * stayed_here
        stayed_below += stayed_here
        i = j
    return wins / (len(scores_churned) * len(scores_stayed))


def compute_kpis(rows: list, high: float = 70, low: float = 50) -> HealthKpis:
    """rows: (score, segment id or None, churned bool|None, upsold bool|None) per customer. Pure."""
    scored = [r for r in rows if r[0] is not None]
    highs = [r for r in scored if r[0] >= high and r[3] is not None]
    rest_up = [r for r in scored if r[0] < high and r[3] is not None]
    known = [r for r in scored if r[2] is not None]
    lows = [r for r in known if r[0] <= low]  # "low" includes its bound, as At-Risk's 30–50 does
    rest = [r for r in known if r[0] > low]
    right = sum(1 for r in known if (r[0] <= low) == r[2])
    segments: dict = {}
    for score_, segment, churned, upsold in scored:
        kpi = segments.setdefault(segment or NO_SEGMENT, SegmentKpi())
        kpi.customers += 1
        kpi.churned += 1 if churned else 0
        kpi.churn_known += churned is not None
        kpi.upsold += 1 if upsold else 0
        kpi.upsell_known += upsold is not None
    rates = [segments[s].churn_rate for s in RISK_ORDER if s in segments and segments[s].churn_rate is not None]
    return HealthKpis(
        customers=len(scored), high=high, low=low,
        upsell_rate_high=_rate(sum(1 for r in highs if r[3]), len(highs)),
        upsell_rate_rest=_rate(sum(1 for r in rest_up if r[3]), len(rest_up)),
        churn_rate_low=_rate(sum(1 for r in lows if r[2]), len(lows)),
        churn_rate_rest=_rate(sum(1 for r in rest if r[2]), len(rest)),
        churn_auc=churn_auc([r[0] for r in known if r[2]], [r[0] for r in known if not r[2]]),
        churn_accuracy=_rate(right, len(known)), segments=segments,
        ordered=all(a >= b for a, b in zip(rates, rates[1:])) if len(rates) > 1 else None)


def health_kpis(store: Store, segment_order: tuple = RISK_ORDER[::-1], model: str = "health",
                churn_field: str = "churn",
                upsell_field: str = "upsold", churn_events: tuple = ("subscription cancelled",),
                upsell_events: tuple = ("plan upgraded",), since: int | None = None) -> HealthKpis:
    """KPIs of the stored health scores against outcomes from fields, or from events after `since`.

    segment_order: the model's segment ids in file order (the first a customer is in is its primary).
    """
    with store.read() as conn:
        rows = kpi_store.scores_and_outcomes(conn, model, churn_field, upsell_field)
        churn_ids = kpi_store.people_with_events(conn, churn_events, since) if since is not None else set()
        upsell_ids = kpi_store.people_with_events(conn, upsell_events, since) if since is not None else set()
    out = []
    for pid, score_, members, churn_value, upsell_value in rows:
        segment = next((s for s in segment_order if s in members), None)  # the primary: first in file order
        churned = True if pid in churn_ids else truthy(churn_value)
        upsold = True if pid in upsell_ids else truthy(upsell_value)
        if since is not None:
            churned = bool(churned)
            upsold = bool(upsold)
        out.append((score_, segment, churned, upsold))
    return compute_kpis(out)


MIN_CHURN_AUC = 0.6  # below this the score barely tells churners from customers who stay


def kpi_checks(store: Store, rule_models: list) -> list[dict]:
    """`health` checks for every model with stage health: KPIs as the value, flagged when they fail."""
    checks = []
    for model in [m for m in rule_models if m.stage == "health"]:
        k = health_kpis(store, segment_order=tuple(s.id for s in model.segments), model=model.name)
        value = {"customers": k.customers, "upsell_rate_high": k.upsell_rate_high,
                 "churn_rate_low": k.churn_rate_low, "churn_auc": k.churn_auc, "churn_accuracy": k.churn_accuracy,
                 "churn_by_segment": {s: v.churn_rate for s, v in k.segments.items()}, "ordered": k.ordered}
        if k.churn_auc is None:
            status, message = "unknown", f"{model.name}: no churn outcomes yet (field 'churn' or cancellation events)"
        elif k.ordered is False or k.churn_auc < MIN_CHURN_AUC:
            status, message = "flag", (f"{model.name}: churn AUC {k.churn_auc:.2f}; segments order churn risk "
                                       f"{'correctly' if k.ordered else 'WRONGLY'}")
        else:
            status, message = "ok", (f"{model.name}: churn AUC {k.churn_auc:.2f}, churn {_pct(k.churn_rate_low)} at "
                                     f"{k.low:g} or below vs {_pct(k.churn_rate_rest)}; upsell "
                                     f"{_pct(k.upsell_rate_high)} at {k.high:g}+")
        checks.append({"check": f"health_kpis:{model.name}", "status": status, "message": message, "value": value,
                       "model": model.name})
    return checks


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_kpis(k: HealthKpis) -> list[str]:
    """Lines for the health report and the CLI."""
    lines = [f"customers scored: {k.customers}",
             f"upsell rate, score {k.high:g}+: {_pct(k.upsell_rate_high)} (others {_pct(k.upsell_rate_rest)})",
             f"churn rate, score {k.low:g} or below: {_pct(k.churn_rate_low)} (others {_pct(k.churn_rate_rest)})",
             f"churn prediction: AUC {'n/a' if k.churn_auc is None else f'{k.churn_auc:.3f}'}, "
             f"accuracy of '{k.low:g} or below churns' {_pct(k.churn_accuracy)}",
             "churn rate by segment:"]
    for seg in [s for s in RISK_ORDER if s in k.segments] + sorted(set(k.segments) - set(RISK_ORDER)):
        s = k.segments[seg]
        lines.append(f"  {seg:<18} {s.customers:>7} customers  churn {_pct(s.churn_rate):>6}  "
                     f"upsold {_pct(s.upsell_rate):>6}")
    if k.ordered is not None:
        lines.append("segments order churn risk correctly: " + ("yes" if k.ordered else "NO"))
    return lines
