"""The demo's paying customers: accounts on a paid plan and their people, with the health, upsell and churn
signals rules/health.yaml and rules/upsell.yaml read. Pure and seeded, like demo_data."""
from __future__ import annotations

import random

DAY = 86400
HISTORY_DAYS = 120
PAID_PLANS = {"team": (49, 10), "business": (99, 25)}  # plan -> (price per seat per month, seats included)

# persona -> (share of customers, churned share, the segment rules/health.yaml should put most of them in)
CUSTOMER_PERSONAS = {
    "loyal_customer": (0.40, 0.01, "loyal_customer"),
    "expanding_customer": (0.20, 0.0, "upsell_candidate"),
    "steady_customer": (0.15, 0.15, None),
    "at_risk_customer": (0.15, 0.20, "at_risk"),
    "churning_customer": (0.10, 0.45, "risk"),
}


def customer_traits(rng: random.Random, employees: int) -> dict:
    """Group traits of a paying account: plan, seats, MRR and the plan's usage limit."""
    plan = rng.choice(list(PAID_PLANS))
    price, included = PAID_PLANS[plan]
    seats = max(included, min(employees, rng.choice([10, 15, 25, 40, 60])))
    return {"plan": plan, "seats": seats, "mrr": seats * price, "plan_limit": seats * 1000,
            "customer_since_days": rng.randint(200, 900)}


def customer_person_traits(rng: random.Random, persona: str) -> dict:
    """Person fields a CRM or billing system holds for a customer (read by the health rules)."""
    good = persona in ("loyal_customer", "expanding_customer")
    traits = {"contract": rng.choice(["one year", "two year"]) if good else
              rng.choice(["month-to-month", "month-to-month", "one year"])}
    if good:
        traits["nps"] = rng.choice([9, 10])
    elif persona in ("at_risk_customer", "churning_customer"):
        traits["nps"] = rng.choice([2, 4, 5, 6, 7])
        traits["open_support_tickets"] = rng.randint(0, 3)
        traits["payment_failures"] = rng.randint(0, 3) if persona == "churning_customer" else 0
    # Outcomes follow the signals: detractors, failed payments and open tickets churn more often.
    odds = (CUSTOMER_PERSONAS[persona][1] + 0.25 * (traits.get("nps", 10) <= 6)
            + 0.2 * (traits.get("payment_failures", 0) >= 2) + 0.05 * traits.get("open_support_tickets", 0))
    traits["churn"] = "Yes" if rng.random() < odds else "No"
    traits["upsold"] = "Yes" if rng.random() < (0.4 if persona == "expanding_customer" else 0.05) else "No"
    return traits


def _weekly(name: str, first_day: float, last_day: float, per_week: tuple, props=None) -> list:
    """(event, count, lo, hi, props) rows: `per_week` events in every week from `first_day` back to `last_day`."""
    rows, day = [], first_day
    while day < last_day:
        rows.append((name, per_week, day, min(day + 7, last_day), props))
        day += 7
    return rows


def _path(path: str):
    return lambda rng: {"path": path}


def _csat(rng):
    return {"csat": rng.randint(4, 5)}


def customer_plan(rng: random.Random, persona: str) -> list:
    """(event, count, lo days ago, hi days ago, properties) rows of one customer over the demo's history."""
    h = HISTORY_DAYS
    if persona in ("loyal_customer", "expanding_customer"):
        rows = [(name, rng.randint(lo, hi), a, b, props) for name, lo, hi, a, b, props in (
            ("Feature Used", 2, 6, 0, h, lambda r: {"feature": r.choice(["reports", "alerts", "api"])}),
            ("Report Created", 2, 8, 0, h, None), ("Feature First Used", 0, 2, 0, 28, None),
            ("Support Ticket Resolved", 0, 1, 0, 80, _csat), ("Referral Sent", 0, 1, 0, 150, None))]
        rows += _weekly("Logged In", 0, h, rng.randint(2, 5))
        rows.append(("NPS Submitted", 1, 20, 100, lambda r: {"score": r.choice([9, 10])}))
        rows.append(("Page Viewed", rng.randint(0, 1), 0, 25, _path("/features/advanced")))
        if persona == "expanding_customer":
            rows += [("Page Viewed", rng.randint(1, 3), 0, 20, _path("/pricing/enterprise")),
                     ("Additional User Requested", rng.randint(1, 3), 0, 25, None),
                     ("API Key Created", 1, 0, 25, None), ("API Call", rng.randint(5, 30), 0, 20, None)]
        return [(n, c, lo, hi, p) for n, c, lo, hi, p in rows if c]
    if persona == "steady_customer":
        return [("Logged In", rng.randint(6, 14), 0, h, None), ("Report Created", rng.randint(1, 4), 0, h, None),
                ("Feature Used", rng.randint(1, 4), 0, h, lambda r: {"feature": "reports"})]
    quiet_since = rng.randint(32, 60) if persona == "churning_customer" else rng.randint(3, 20)
    rows = [("Logged In", rng.randint(6, 14), quiet_since, h, None),
            ("Report Created", rng.randint(0, 3), quiet_since, h, None),
            ("Support Contacted", rng.randint(1, 3), quiet_since, 90, lambda r: {"topic": "bug"}),
            ("Page Viewed", 1, max(0, quiet_since - 2), quiet_since, _path("/account/cancel")),
            ("NPS Submitted", 1, quiet_since, 90, lambda r: {"score": r.choice([2, 4, 5, 6])})]
    if persona == "churning_customer":
        rows.append(("Payment Failed", rng.randint(2, 3), quiet_since, 80, None))
    return [(n, c, lo, hi, p) for n, c, lo, hi, p in rows if c]
