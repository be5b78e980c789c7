"""The practical floor: the shipped conversion rules hand-written as one DuckDB query over the columnar copy.

Every feature and the whole conversion score (fit, recency-weighted behaviour, decay, clamp) for every person,
written the way a person would write it for this one rule set. score_bench.py times it beside our plan in the
same run and checks that both give every person the same combined score.
"""
from __future__ import annotations

DAY = 86400
LISTS = {
    "icp": ["software", "financial services", "e-commerce", "marketing", "healthcare technology"],
    "regions": ["north america", "europe", "uk", "anz"],
    "personas": ["engineering", "data", "operations", "product", "it"],
    "tools": ["slack", "salesforce", "hubspot", "snowflake", "segment", "jira"],
    "competitors": ["rivalmetrics.com", "competiq.io", "samedata.co"],
    "personal": ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com"],
}
SENIOR = r"\b(vp|vice president|director|chief|ceo|cto|cfo|coo|cio|cmo|head of)\b"


def _list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def reference_sql(type_ids: dict, as_of: int) -> str:
    """person_id, combined for every person, as of as_of."""
    t = {k: type_ids.get(k, -1) for k in ("onboarding completed", "report created", "dashboard created",
                                          "invite sent", "integration connected", "premium feature used",
                                          "logged in", "feature used", "session ended", "page viewed",
                                          "upgrade started", "support contacted", "data exported",
                                          "email unsubscribed", "account data deleted", "alert created")}
    core = f"({t['report created']}, {t['dashboard created']})"
    key = (f"({t['report created']}, {t['dashboard created']}, {t['invite sent']}, {t['integration connected']}, "
           f"{t['data exported']}, {t['alert created']})")

    def weighted(points: int, fires: str, evidence: str) -> str:
        age = f"({as_of} - {evidence})"
        factor = (f"(CASE WHEN {evidence} IS NULL OR {age} <= {7 * DAY} THEN 1.0 WHEN {age} >= {30 * DAY} THEN 0.5 "
                  f"ELSE 1.0 - 0.5 * ({age} - {7 * DAY}) / {23 * DAY} END)")
        return f"(CASE WHEN {fires} THEN CAST(floor({points} * {factor} + 0.5) AS INTEGER) ELSE 0 END)"

    return f"""
WITH f AS (
  SELECT person_id,
    max(ts) AS last_any,
    max(ts) FILTER (WHERE type_id = {t['onboarding completed']}) AS onboarding,
    max(ts) FILTER (WHERE type_id IN {core}) AS core,
    max(ts) FILTER (WHERE type_id = {t['invite sent']}) AS invite,
    max(ts) FILTER (WHERE type_id = {t['integration connected']}) AS integration,
    max(ts) FILTER (WHERE type_id = {t['premium feature used']}) AS premium,
    max(ts) FILTER (WHERE type_id = {t['logged in']}) AS login,
    count(*) FILTER (WHERE type_id = {t['logged in']} AND ts >= {as_of - 7 * DAY}) AS logins_7d,
    max(ts) FILTER (WHERE type_id = {t['feature used']}) AS feature,
    count(DISTINCT "s:feature") FILTER (WHERE type_id = {t['feature used']}) AS features,
    max(ts) FILTER (WHERE type_id = {t['session ended']}) AS session,
    avg("n:duration_seconds") FILTER (WHERE type_id = {t['session ended']}) AS avg_session,
    max(ts) FILTER (WHERE type_id IN {key}) AS key_action,
    count(*) FILTER (WHERE type_id IN {key} AND ts >= {as_of - 2 * DAY}) AS key_48h,
    max(ts) FILTER (WHERE type_id = {t['page viewed']} AND starts_with(json_extract_string("j:path", '$'),
                                                                       '/pricing')) AS pricing,
    max(ts) FILTER (WHERE type_id = {t['upgrade started']}) AS upgrade,
    max(ts) FILTER (WHERE type_id = {t['support contacted']}
                    AND lower(trim(json_extract_string("j:topic", '$'))) IN ('billing', 'enterprise')) AS billing,
    max(ts) FILTER (WHERE type_id = {t['data exported']}) AS exported,
    count(*) FILTER (WHERE type_id = {t['email unsubscribed']}) AS unsubscribed,
    count(*) FILTER (WHERE type_id = {t['account data deleted']}) AS deleted
  FROM events WHERE ts <= {as_of} AND person_id IS NOT NULL GROUP BY person_id
), r AS (
  SELECT p.id AS person_id, p.created_at, p.email_domain AS domain,
    lower(trim(json_extract_string(p.attributes, '$.title'))) AS title,
    lower(trim(json_extract_string(p.attributes, '$.job_function'))) AS job,
    lower(trim(json_extract_string(p.attributes, '$.region'))) AS region,
    lower(trim(json_extract_string(p.attributes, '$.plan'))) AS plan,
    lower(trim(json_extract_string(a.attributes, '$.industry'))) AS industry,
    TRY_CAST(json_extract(a.attributes, '$.employees') AS DOUBLE) AS employees,
    list_transform(CAST(json_extract(a.attributes, '$.tools') AS VARCHAR[]), lambda x: lower(trim(x))) AS tools
  FROM people p LEFT JOIN accounts a ON a.id = p.account_id
), s AS (
  SELECT r.person_id, f.last_any,
    (CASE WHEN industry IN (SELECT unnest({_list(LISTS['icp'])})) THEN 20 ELSE 0 END)
    + (CASE WHEN employees BETWEEN 50 AND 499 THEN 15 WHEN employees BETWEEN 500 AND 5000 THEN 20 ELSE 0 END)
    + (CASE WHEN regexp_matches(title, '{SENIOR}') THEN 15 ELSE 0 END)
    + (CASE WHEN job IN (SELECT unnest({_list(LISTS['personas'])})) THEN 10 ELSE 0 END)
    + (CASE WHEN list_has_any(tools, {_list(LISTS['tools'])}) THEN 10 ELSE 0 END)
    - (CASE WHEN domain IN (SELECT unnest({_list(LISTS['competitors'])})) THEN 50 ELSE 0 END)
    - (CASE WHEN ends_with(domain, '.edu') OR title LIKE '%student%' OR title LIKE '%intern%'
            OR title LIKE '%undergraduate%' OR title LIKE '%phd candidate%' THEN 40 ELSE 0 END)
    - (CASE WHEN region IS NOT NULL AND region <> '' AND region NOT IN (SELECT unnest({_list(LISTS['regions'])}))
            THEN 20 ELSE 0 END)
    - (CASE WHEN employees < 10 THEN 15 ELSE 0 END)
    - (CASE WHEN domain IN (SELECT unnest({_list(LISTS['personal'])})) THEN 10 ELSE 0 END) AS fit_raw,
    {weighted(15, 'f.onboarding IS NOT NULL', 'f.onboarding')}
    + {weighted(20, 'f.core IS NOT NULL', 'f.core')}
    + {weighted(25, 'f.invite IS NOT NULL', 'f.invite')}
    + {weighted(20, 'f.integration IS NOT NULL', 'f.integration')}
    + {weighted(15, 'f.premium IS NOT NULL', 'f.premium')}
    + {weighted(15, 'coalesce(f.logins_7d, 0) >= 5', 'f.login')}
    + {weighted(10, 'coalesce(f.features, 0) >= 3', 'f.feature')}
    + {weighted(10, 'coalesce(f.avg_session > 300, false)', 'f.session')}
    + {weighted(25, 'coalesce(f.key_48h, 0) >= 5', 'f.key_action')}
    + {weighted(10, "r.plan = 'trial' AND f.pricing IS NOT NULL", 'f.pricing')}
    + {weighted(20, 'f.upgrade IS NOT NULL', 'f.upgrade')}
    + {weighted(10, 'f.billing IS NOT NULL', 'f.billing')}
    + {weighted(5, 'f.exported IS NOT NULL', 'f.exported')}
    - (CASE WHEN ({as_of} - coalesce(f.login, r.created_at)) // {DAY} >= 30 THEN 20
            WHEN ({as_of} - coalesce(f.login, r.created_at)) // {DAY} >= 14 THEN 10 ELSE 0 END)
    - (CASE WHEN coalesce(f.unsubscribed, 0) >= 1 THEN 15 ELSE 0 END)
    - (CASE WHEN coalesce(f.deleted, 0) >= 1 THEN 25 ELSE 0 END) AS behaviour_raw
  FROM r LEFT JOIN f ON f.person_id = r.person_id
)
SELECT person_id, least(greatest(fit_raw + least(greatest(behaviour_raw - (CASE WHEN last_any IS NULL THEN 0
       ELSE (greatest(0, {as_of} - last_any) // {30 * DAY}) * 10 END), 0), 100), 0), 100) AS combined
FROM s"""
