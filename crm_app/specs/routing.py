"""The routing file of playbooks/: reps, pools, territories and where the current owner is read from."""
from __future__ import annotations

from dataclasses import dataclass, field

from crm_app.errors import ErrorCollector, did_you_mean
from crm_app.specs.reader import Reader, Where, item_where

ROUTING_KEYS = ("reps", "pools", "territories", "default_pool", "weekly_cap", "owner_field",
                "account_owner_field", "record_id_field", "record_object_field", "default_object",
                "feedback_field", "crm_url")


@dataclass(frozen=True)
class Rep:
    email: str
    name: str = ""
    weekly_cap: int | None = None  # None = the routing default
    away: bool = False
    digest: bool = False  # one daily digest instead of one message per PQL
    slack_user: str | None = None


@dataclass(frozen=True)
class Territory:
    field: str
    values: tuple  # lower-cased
    pool: str


@dataclass(frozen=True)
class Routing:
    reps: tuple = ()
    pools: dict = field(default_factory=dict)  # name -> tuple of rep emails, in rotation order
    territories: tuple = ()
    default_pool: str | None = None
    weekly_cap: int | None = None
    owner_field: str = "owner_email"
    account_owner_field: str = "account.owner_email"
    record_id_field: str = "crm_id"
    record_object_field: str = "crm_object"
    default_object: str = "Lead"
    feedback_field: str = "PQL_Feedback__c"
    crm_url: str = ""

    def rep(self, email: str | None) -> Rep | None:
        email = (email or "").strip().lower()
        return next((r for r in self.reps if r.email == email), None)

    def cap(self, rep: Rep) -> int | None:
        return rep.weekly_cap if rep.weekly_cap is not None else self.weekly_cap


def parse_routing(doc, file: str, errors: ErrorCollector, lists: dict) -> Routing:
    """The `routing:` mapping -> Routing; pools and territories must name known reps and pools."""
    top = Reader(doc, Where(file, getattr(doc, "line", 1), ""), errors, "a routing file")
    node = top.mapping("routing", required=True)
    top.finish(["routing"])
    r = Reader(node if node is not None else {}, top.at("routing"), errors, "'routing'")
    reps = _parse_reps(r)
    emails = [rep.email for rep in reps]
    pools = {}
    for name, members in (r.mapping("pools") or {}).items():
        where = Reader(r.raw("pools"), r.at("pools"), errors).at(name)
        if not isinstance(members, list) or not members:
            errors.add(where.file, where.line, where.path, "a pool is a non-empty list of rep emails")
            continue
        for m in members:
            if str(m).lower() not in emails:
                errors.add(where.file, where.line, where.path, f"'{m}' is not one of the reps",
                           did_you_mean(str(m).lower(), emails))
        pools[str(name)] = tuple(str(m).strip().lower() for m in members)
    territories = _parse_territories(r, pools)
    default_pool = r.text("default_pool", default=None)
    if default_pool is not None and default_pool not in pools:
        r.error(r.at("default_pool"), f"no pool named '{default_pool}'", did_you_mean(default_pool, pools),
                ("pool", default_pool))
    cap = r.number("weekly_cap", default=None, minimum=1, maximum=100000)
    texts = {k: r.text(k, default=getattr(Routing, k)) for k in ROUTING_KEYS[5:]}
    r.finish(ROUTING_KEYS)
    return Routing(tuple(reps), pools, territories, default_pool, int(cap) if cap else None, **texts)


def _parse_reps(r: Reader) -> list[Rep]:
    items = r.sequence("reps", required=True) or []
    reps = []
    for i, item in enumerate(items):
        rr = Reader(item, item_where(r.at("reps"), items, i), r.errors, "a rep")
        email = rr.text("email", required=True)
        cap = rr.number("weekly_cap", default=None, minimum=0, maximum=100000)
        rep = Rep(email=(email or "").strip().lower(), name=rr.text("name", default=""),
                  weekly_cap=int(cap) if cap is not None else None, away=rr.boolean("away", False),
                  digest=rr.boolean("digest", False), slack_user=rr.text("slack_user", default=None))
        rr.finish()
        if email and "@" not in email:
            rr.error(rr.at("email"), f"'{email}' is not an email address; reps map to CRM owners by email")
        if rr.ok:
            reps.append(rep)
    return reps


def _parse_territories(r: Reader, pools: dict) -> tuple:
    items = r.sequence("territories") or []
    found = []
    for i, item in enumerate(items):
        tr = Reader(item, item_where(r.at("territories"), items, i), r.errors, "a territory")
        fld = tr.text("field", required=True)
        values = tr.sequence("in", required=True) or []
        pool = tr.text("pool", required=True)
        tr.finish()
        if pool is not None and pool not in pools:
            tr.error(tr.at("pool"), f"no pool named '{pool}'", did_you_mean(pool, pools), ("pool", pool))
        if tr.ok:
            found.append(Territory(fld, tuple(str(v).strip().lower() for v in values), pool))
    return tuple(found)
