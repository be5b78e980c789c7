"""Overview, the people list and the person page: read-only views for admins and managers."""
from __future__ import annotations

import re

from flask import Response, abort, g, render_template, request, stream_with_context

from crm_app.services.dashboard import overview as service
from crm_app.services.dashboard import models as models_service
from crm_app.services.dashboard.score_cube import per_run
from crm_app.store.dashboard.queries import PAGE_MAX
from crm_app.web.dashboard.blueprint import bp, now, specs, store


def chosen_model(ruleset) -> str:
    """The model named by ?model=, else the first person model with a PQL threshold (the conversion model)."""
    models = service.person_models(ruleset)
    names = [m.name for m in models]
    wanted = request.args.get("model")
    if wanted and wanted not in names:
        abort(404, description=f"No person model named {wanted!r}; models: {', '.join(names)}")
    return wanted or next((m.name for m in models if m.pql is not None), names[0])


def loaded_rules():
    state = specs()
    if state.specs is None:
        abort(503, description="No valid rule set has loaded yet: run `python -m crm_app check` and fix the errors.")
    return state.specs.rules


@bp.route("/")
def overview():
    rules = loaded_rules()
    model = chosen_model(rules)
    loaded = specs().specs
    playbooks = tuple(p.name for p in loaded.playbooks.playbooks if p.model == model) if loaded.playbooks else ()
    data = service.overview(store(), rules, model, now(), playbooks)
    hour = now() // 3600 * 3600  # checks read "the past week": one cached answer per run and hour
    checks = per_run(store(), f"health:{hour}", lambda: models_service.health(store(), loaded, hour))
    backtests = dict((m.name, run) for m, run in models_service.latest_backtests(store(), loaded))
    return render_template("dashboard/overview.html", d=data, models=service.person_models(rules), model=model,
                           chart=histogram_chart(data["per_score"]), monitoring=grouped_checks(checks, model),
                           backtest=backtests.get(model), trends=service.trends(store(), model))


def grouped_checks(checks: list[dict], first: str) -> list[dict]:
    """Checks per model (the shown model first, checks of no model last), with the unknown ones apart."""
    groups: dict = {}
    for check in checks:
        group = groups.setdefault(check.get("model") or "All models", {"known": [], "unknown": []})
        group["unknown" if check["status"] == "unknown" else "known"].append(check)
    order = sorted(groups, key=lambda name: (name != first, name == "All models", name))
    return [{"name": name, **groups[name]} for name in order]


def histogram_chart(per_score: dict, width: int = 5) -> dict:
    """Bins of `width` points (the last one holds 100), stacked by band, as Chart.js data."""
    starts = list(range(0, 100, width))
    counts = {band: [0] * len(starts) for band in service.BANDS}
    for combined, bands in per_score.items():
        index = min(max(int(combined), 0) // width, len(starts) - 1)
        for band, n in bands.items():
            counts.setdefault(band, [0] * len(starts))[index] += n
    labels = [(str(s) if width == 1 else f"{s}–{s + width - 1}") if s + width < 100 else f"{s}–100" for s in starts]
    return {"labels": labels, "datasets": [{"label": band, "data": counts[band]} for band in service.BANDS]}


CURSOR = re.compile(r"^-?\d{1,18}:\d{1,18}$")  # (sort value, subject id): both fit a 64-bit column
MAX_TEXT = 200  # longest search text or owner name


def _cursor(text: str | None) -> tuple | None:
    if not text:
        return None
    if not CURSOR.match(text):
        abort(400, description=f"Bad page cursor {text[:40]!r}; start again from the first page.")
    value, _, ident = text.partition(":")
    return int(value), int(ident)


def _text(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if len(value) > MAX_TEXT:
        abort(400, description=f"{name} is longer than {MAX_TEXT} characters")
    if any(ord(ch) < 32 for ch in value):
        abort(400, description=f"{name} contains a control character")
    return value or None


def _choice(name: str, choices, default: str) -> str:
    value = request.args.get(name) or default
    if value not in choices:
        abort(400, description=f"{name} must be one of {', '.join(choices)}")
    return value


def people_query(model: str, segments: list[str] = ()) -> service.PeopleQuery:
    """The people list's filters from the query string; bad values get a clear 400."""
    args = request.args
    segment = args.get("segment") or None
    if segment and segment not in segments:
        abort(400, description=f"segment must be one of {', '.join(segments) or '(this model has no segments)'}")
    band = args.get("band") or None
    if band and band not in service.BANDS:
        abort(400, description=f"band must be one of {', '.join(service.BANDS)}")
    sort = args.get("sort", "score")
    if sort not in service.SORTS:
        abort(400, description=f"sort must be one of {', '.join(service.SORTS)}")
    pql = {"yes": True, "no": False, "": None}[_choice("pql", ("yes", "no", ""), "")]
    size = args.get("size") or "50"
    if not (size.isdigit() and len(size) <= 3 and 1 <= int(size) <= PAGE_MAX):
        abort(400, description=f"size must be a whole number from 1 to {PAGE_MAX}")
    return service.PeopleQuery(model=model, band=band, pql=pql, q=_text("q"), sort=sort,
                               descending=_choice("order", ("desc", "asc"), "desc") == "desc",
                               after=_cursor(args.get("after")), before=_cursor(args.get("before")),
                               size=int(size), owner=_text("owner"), segment=segment)


@bp.route("/people")
def people():
    rules = loaded_rules()
    model = chosen_model(rules)
    segments = [segment.id for segment in rules.model(model).segments]
    query = people_query(model, segments)
    page = service.people_page(store(), query, now())
    keep = {k: v for k, v in request.args.items() if k not in ("after", "before") and v}
    return render_template("dashboard/people.html", page=page, query=query, keep=keep, model=model,
                           models=service.person_models(rules), sorts=list(service.SORTS),
                           owners=service.owner_names(store()), segments=segments)


@bp.route("/people.csv")
def people_csv():
    """Every person the list's filters match, as CSV, streamed page by page; the export is audited."""
    from crm_app.services.dashboard.people_export import export_lines
    from crm_app.store.dashboard.security import audit
    rules = loaded_rules()
    model = chosen_model(rules)
    query = people_query(model, [segment.id for segment in rules.model(model).segments])
    filters = {k: v for k, v in request.args.items() if k not in ("after", "before", "size") and v}
    with store().begin() as conn:
        audit(conn, now(), g.user, "people_exported", model, filters)
    name = f"people-{model}-{now() // 86400}.csv"
    return Response(stream_with_context(export_lines(store(), query, now())), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/people/<int:person_id>")
def person(person_id: int):
    rules = loaded_rules()
    detail = service.person_detail(store(), rules, person_id, now())
    if detail is None:
        abort(404, description=f"No person with id {person_id}.")
    charts = {item["model"].name: history_chart(item["history"], item["stored"], now())
              for item in detail["explained"]}
    timeline = {}
    for event in detail["events"]:
        day = event["ts"] // 86400 * 86400
        timeline[day] = timeline.get(day, 0) + 1
    routing = specs().specs.playbooks.routing if specs().specs and specs().specs.playbooks else None
    links = [{"crm": crm, "object": obj, "id": rid,
              "url": routing.crm_url.format(object=obj, id=rid) if routing and routing.crm_url else None}
             for crm, obj, rid in detail["crm_records"]]
    return render_template("dashboard/person.html", d=detail, charts=charts, as_of=now(), crm_links=links,
                           timeline={"points": [{"x": day, "y": timeline[day]} for day in sorted(timeline)]})


def history_chart(history: list[dict], stored: dict | None, until: int) -> dict:
    """Score history as steps on a time axis: each change holds until the next one, the last until now."""
    points = [{"x": h["as_of"], "combined": h["combined"], "fit": h["fit"], "behaviour": h["behaviour"]}
              for h in history]
    if points and until > points[-1]["x"]:
        points.append({**points[-1], "x": until})
    elif not points and stored:
        points = [{"x": stored["as_of"], "combined": stored["combined"], "fit": stored["fit"],
                   "behaviour": stored["behaviour"]}]
    return {"points": points}
