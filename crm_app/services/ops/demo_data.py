"""Generated demo workspace: trial and paying accounts, their people and 120 days of product events, by persona.
Pure and seeded."""
from __future__ import annotations

import random
from dataclasses import dataclass

from crm_app.services.ops.demo_customers import (CUSTOMER_PERSONAS, HISTORY_DAYS, customer_person_traits,
                                                 customer_plan, customer_traits)

DAY = 86400
INDUSTRIES_ICP = ["Software", "Financial Services", "E-commerce", "Marketing", "Healthcare Technology"]
INDUSTRIES_OTHER = ["Education", "Government", "Manufacturing", "Non-profit", "Agriculture"]
REGIONS = ["North America", "Europe", "UK", "ANZ"]
OTHER_REGIONS = ["LATAM", "APAC", "Middle East"]
SENIOR = ["VP Engineering", "Director of Data", "CTO", "Head of Operations", "Chief Product Officer"]
JUNIOR = ["Software Engineer", "Data Analyst", "Marketing Associate", "Product Designer", "Consultant"]
FUNCTIONS = ["Engineering", "Data", "Operations", "Product", "IT", "Marketing", "Sales", "Finance"]
TOOLS = ["Slack", "Salesforce", "HubSpot", "Snowflake", "Segment", "Jira", "Trello", "Notion"]
FEATURES = ["reports", "dashboards", "alerts", "sql_editor", "scheduling", "sharing", "api"]
FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Mo",
         "Nia", "Omar", "Pia", "Quinn", "Ravi", "Sara", "Tom", "Uma", "Vic", "Wen", "Yara", "Zoe"]
LAST = ["Smith", "Garcia", "Okafor", "Kim", "Novak", "Rossi", "Silva", "Tanaka", "Weber", "Yilmaz", "Haddad"]

CUSTOMER_SHARE = 0.12  # of accounts: paying customers, whose people get a customer persona
# persona -> (share of people, whether the scoring should make them PQLs)
PERSONAS = {
    "champion": (0.04, True),
    "velocity_burst": (0.02, True),
    "engaged_evaluator": (0.06, None),
    "explorer": (0.33, None),
    "tire_kicker": (0.30, False),
    "gone_quiet": (0.12, False),
    "student": (0.05, False),
    "competitor": (0.03, False),
    "personal_hobbyist": (0.05, False),
}


@dataclass
class DemoWorkspace:
    accounts: list  # Segment group messages
    identities: list  # Segment identify messages
    events: list  # Segment track messages
    personas: dict  # user id -> persona (trial personas, then customer personas)


def generate(people: int, now: int, seed: int = 7) -> DemoWorkspace:
    """A reproducible workspace of `people` people in about people/4 accounts, events up to `now`; the people of
    a paying account are customers, the rest trial users."""
    rng = random.Random(seed)
    ws = DemoWorkspace([], [], [], {})
    names, customer_names = list(PERSONAS), list(CUSTOMER_PERSONAS)
    weights, customer_weights = [PERSONAS[n][0] for n in names], [CUSTOMER_PERSONAS[n][0] for n in customer_names]
    accounts = _accounts(rng, max(1, people // 4))
    ws.accounts = [a["message"] for a in accounts]
    for i in range(people):
        account = rng.choice(accounts)
        customer = account["message"]["traits"]["plan"] != "trial"
        persona = rng.choices(customer_names, customer_weights)[0] if customer else rng.choices(names, weights)[0]
        user_id = f"u{i + 1:06d}"
        ws.personas[user_id] = persona
        identify, group_id = _person(rng, user_id, persona, account, now)
        ws.identities.append(identify)
        ws.events.extend(_events(rng, user_id, group_id, persona, now))
    return ws


def _accounts(rng: random.Random, n: int) -> list:
    out = []
    for i in range(n):
        icp = rng.random() < 0.6
        employees = rng.choice([5, 25, 80, 150, 300, 450, 700, 1500, 3000, 8000])
        domain = f"{rng.choice(['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka'])}" \
                 f"{i + 1}.com"
        traits = {"name": domain.split(".")[0].title(), "domain": domain,
                  "industry": rng.choice(INDUSTRIES_ICP if icp else INDUSTRIES_OTHER), "employees": employees,
                  "tools": rng.sample(TOOLS, rng.randint(0, 3)), "plan": "trial"}
        if rng.random() < CUSTOMER_SHARE:
            traits.update(customer_traits(rng, employees))
        out.append({"id": f"w{i + 1:05d}", "domain": domain,
                    "message": {"type": "group", "userId": None, "anonymousId": f"setup-w{i + 1:05d}",
                                "groupId": f"w{i + 1:05d}", "traits": traits,
                                "messageId": f"group-w{i + 1:05d}"}})
    return out


def _person(rng: random.Random, user_id: str, persona: str, account: dict, now: int):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    domain, group_id = account["domain"], account["id"]
    title, function, region = rng.choice(JUNIOR), rng.choice(FUNCTIONS), rng.choice(REGIONS)
    customer = persona in CUSTOMER_PERSONAS
    if persona in ("champion", "velocity_burst") and rng.random() < 0.7:
        title = rng.choice(SENIOR)
        function = rng.choice(FUNCTIONS[:5])
    if persona == "student":
        domain, title, group_id = f"{rng.choice(['state', 'tech', 'city'])}u.edu", "Student", None
    elif persona == "competitor":
        domain, group_id = rng.choice(["rivalmetrics.com", "competiq.io"]), None
    elif persona == "personal_hobbyist":
        domain, group_id, region = rng.choice(["gmail.com", "yahoo.com", "hotmail.com"]), None, \
            rng.choice(OTHER_REGIONS + REGIONS)
    elif rng.random() < 0.1:
        region = rng.choice(OTHER_REGIONS)
    traits = {"email": f"{first.lower()}.{last.lower()}.{user_id}@{domain}", "name": f"{first} {last}",
              "title": title, "job_function": function, "region": region,
              "plan": account["message"]["traits"]["plan"] if customer else "trial"}
    if customer:
        traits.update(customer_person_traits(rng, persona))
    message = {"type": "identify", "userId": user_id, "traits": traits, "messageId": f"identify-{user_id}",
               "timestamp": now - HISTORY_DAYS * DAY}
    if group_id:
        message["context"] = {"groupId": group_id}
    return message, group_id


def _events(rng: random.Random, user_id: str, group_id, persona: str, now: int) -> list:
    plan = customer_plan(rng, persona) if persona in CUSTOMER_PERSONAS else _PLANS[persona](rng)
    out = []
    for name, count, lo_days, hi_days, props in plan:
        for k in range(count):
            ts = now - int(rng.uniform(lo_days, hi_days) * DAY)
            message = {"type": "track", "userId": user_id, "event": name, "timestamp": ts,
                       "messageId": f"{user_id}-{name}-{k}-{ts}", "properties": props(rng) if props else {}}
            if group_id:
                message["context"] = {"groupId": group_id}
            out.append(message)
    return out


def _feature(rng):
    return {"feature": rng.choice(FEATURES)}


def _session(lo, hi):
    return lambda rng: {"duration_seconds": rng.randint(lo, hi)}


def _common(rng, activity_lo: float, activity_hi: float, logins: int, depth: tuple) -> list:
    return [("Signed Up", 1, activity_hi + 1, activity_hi + 2, None),
            ("Logged In", logins, activity_lo, activity_hi, None),
            ("Session Ended", logins, activity_lo, activity_hi, _session(*depth)),
            ("Feature Used", rng.randint(1, 6), activity_lo, activity_hi, _feature)]


_PLANS = {
    # Upgrades (the shipped lifecycle goal) are spread over the last six weeks, so backtests see them.
    "champion": lambda rng: _common(rng, 0, 50, rng.randint(14, 30), (240, 1500)) + [
        ("Onboarding Completed", 1, 42, 50, None), ("Report Created", rng.randint(3, 12), 0, 40, None),
        ("Invite Sent", rng.randint(1, 6), 0, 30, None), ("Integration Connected", rng.randint(1, 3), 0, 35, None),
        ("Premium Feature Used", rng.randint(0, 3), 0, 20, None), ("Logged In", 5, 0, 6, None),
        ("Page Viewed", rng.randint(1, 3), 0, 30, lambda r: {"path": "/pricing"}),
        ("Upgrade Started", int(rng.random() < 0.6), 0, 40, None)],
    "velocity_burst": lambda rng: _common(rng, 3, 40, rng.randint(4, 8), (200, 700)) + [
        ("Onboarding Completed", 1, 30, 40, None), ("Report Created", 3, 0, 1.9, None),
        ("Dashboard Created", 2, 0, 1.9, None), ("Invite Sent", 1, 0, 1.5, None),
        ("Integration Connected", 1, 5, 20, None)],
    "engaged_evaluator": lambda rng: _common(rng, 0, 30, rng.randint(6, 14), (150, 600)) + [
        ("Onboarding Completed", 1, 25, 30, None), ("Report Created", rng.randint(1, 5), 0, 25, None),
        ("Invite Sent", rng.randint(0, 2), 0, 20, None), ("Data Exported", rng.randint(0, 2), 0, 20, None),
        ("Upgrade Started", int(rng.random() < 0.15), 0, 25, None)],
    "explorer": lambda rng: _common(rng, 2, 60, rng.randint(2, 6), (60, 400)) + [
        ("Onboarding Completed", rng.randint(0, 1), 55, 60, None), ("Report Created", rng.randint(0, 2), 2, 55, None),
        ("Upgrade Started", int(rng.random() < 0.02), 0, 40, None)],
    "tire_kicker": lambda rng: _common(rng, 20, 115, rng.randint(1, 2), (30, 200)),
    "gone_quiet": lambda rng: _common(rng, 45, 117, rng.randint(8, 15), (200, 900)) + [
        ("Onboarding Completed", 1, 108, 117, None), ("Report Created", rng.randint(2, 6), 45, 108, None),
        ("Invite Sent", rng.randint(0, 2), 50, 108, None), ("Email Unsubscribed", rng.randint(0, 1), 45, 50, None)],
    "student": lambda rng: _common(rng, 0, 30, rng.randint(8, 15), (300, 1200)) + [
        ("Onboarding Completed", 1, 25, 30, None), ("Report Created", rng.randint(3, 8), 0, 25, None)],
    "competitor": lambda rng: _common(rng, 0, 20, rng.randint(10, 20), (300, 1500)) + [
        ("Onboarding Completed", 1, 18, 20, None), ("Report Created", rng.randint(5, 10), 0, 18, None),
        ("Data Exported", rng.randint(2, 5), 0, 10, None), ("Page Viewed", 2, 0, 5, lambda r: {"path": "/pricing"})],
    "personal_hobbyist": lambda rng: _common(rng, 0, 30, rng.randint(6, 12), (200, 800)) + [
        ("Onboarding Completed", 1, 25, 30, None), ("Report Created", rng.randint(1, 4), 0, 25, None)],
}
