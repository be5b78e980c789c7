"""The sections of a model file besides its rules: decay, recency, bands, PQL, activation, activity, clamp."""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.errors import did_you_mean
from crm_app.specs.conditions import EventSelector
from crm_app.specs.reader import Reader, item_where


@dataclass(frozen=True)
class Decay:
    """Behaviour points lost per step of inactivity; fit never decays."""

    points: float
    every: int  # seconds
    floor: float = 0.0


@dataclass(frozen=True)
class Recency:
    """Weight of a behaviour rule by the age of its latest evidence: 1.0 when fresh, falling linearly."""

    full_within: int  # seconds: evidence this recent earns full points
    reduced_after: int  # seconds: evidence this old or older earns reduced_factor
    reduced_factor: float


@dataclass(frozen=True)
class Bands:
    high: float
    medium: float


@dataclass(frozen=True)
class PqlSpec:
    threshold: float
    min_fit: float | None = None


@dataclass(frozen=True)
class Activation:
    milestones: tuple
    activated_at: int
    power_user_at: int


def parse_decay(r: Reader) -> Decay | None:
    node = r.mapping("decay")
    if node is None:
        return None
    d = Reader(node, r.at("decay"), r.errors)
    points = d.number("points", required=True, minimum=0, maximum=100)
    every = d.duration("every", required=True)
    floor = d.number("floor", default=0)
    d.finish()
    if every == 0:
        d.error(d.at("every"), "'every' must be longer than zero, such as 30d")
    if not d.ok:
        r.ok = False
        return None
    return Decay(float(points), every, float(floor))


def parse_recency(r: Reader) -> Recency | None:
    node = r.mapping("recency")
    if node is None:
        return None
    d = Reader(node, r.at("recency"), r.errors)
    full = d.duration("full_points_within", required=True)
    after = d.duration("reduced_after", required=True)
    factor = d.number("reduced_factor", required=True, minimum=0, maximum=1)
    d.finish()
    if d.ok and full is not None and after is not None and after <= full:
        d.error(d.at("reduced_after"), "'reduced_after' must be longer than 'full_points_within'")
    if not d.ok:
        r.ok = False
        return None
    return Recency(full, after, float(factor))


def parse_bands(r: Reader) -> Bands:
    node = r.mapping("bands")
    if node is None:
        return Bands(70.0, 40.0)
    d = Reader(node, r.at("bands"), r.errors)
    high = d.number("high", required=True, minimum=0, maximum=100)
    medium = d.number("medium", required=True, minimum=0, maximum=100)
    d.finish()
    if d.ok and medium >= high:
        d.error(d.at("medium"), f"the medium threshold ({medium}) must be below the high threshold ({high})")
    if not d.ok:
        r.ok = False
        return Bands(70.0, 40.0)
    return Bands(float(high), float(medium))


def parse_pql(r: Reader) -> PqlSpec | None:
    node = r.mapping("pql")
    if node is None:
        return None
    d = Reader(node, r.at("pql"), r.errors)
    threshold = d.number("threshold", default=75, minimum=0, maximum=100)
    min_fit = d.number("min_fit", default=None, minimum=-1000, maximum=100)
    d.finish()
    if not d.ok:
        r.ok = False
        return None
    return PqlSpec(float(threshold), None if min_fit is None else float(min_fit))


def parse_activation(r: Reader, rule_ids: set) -> Activation | None:
    node = r.mapping("activation")
    if node is None:
        return None
    d = Reader(node, r.at("activation"), r.errors)
    milestones = d.sequence("milestones", required=True) or []
    activated = d.number("activated_at", required=True, minimum=1, maximum=100)
    power = d.number("power_user_at", required=True, minimum=1, maximum=100)
    d.finish()
    for i, ms in enumerate(milestones):
        if ms not in rule_ids:
            d.error(item_where(d.at("milestones"), milestones, i), f"no rule with id '{ms}'",
                    did_you_mean(ms, rule_ids), ("rule", ms))
    if d.ok and power < activated:
        d.error(d.at("power_user_at"), "'power_user_at' must be at least 'activated_at'")
    if d.ok and power > len(milestones):
        d.error(d.at("power_user_at"), f"{power} milestones can never be reached: only {len(milestones)} are listed")
    if not d.ok:
        r.ok = False
        return None
    return Activation(tuple(milestones), int(activated), int(power))


def parse_activity(r: Reader, lists: dict) -> EventSelector:
    """Which events count as product activity, for decay and 'last product activity'."""
    raw = r.raw("activity_events", "any")
    if isinstance(raw, str) and raw.startswith("$"):
        raw = lists.get(raw[1:], ())
    if raw in ("any", "*"):
        return EventSelector((), (), None)
    if isinstance(raw, list):
        return EventSelector(tuple(str(n).strip().lower() for n in raw), (), None)
    r.error(r.at("activity_events"), "expected 'any' or a list of event names")
    return EventSelector((), (), None)


def parse_clamp(r: Reader) -> tuple:
    raw = r.raw("clamp", [0, 100])
    if not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, (int, float)) for v in raw)
            and raw[0] < raw[1]):
        r.error(r.at("clamp"), f"expected [low, high], such as [0, 100]; got {raw!r}")
        return (0.0, 100.0)
    return (float(raw[0]), float(raw[1]))
