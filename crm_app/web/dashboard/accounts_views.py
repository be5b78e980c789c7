"""Account scores (PQA): the accounts list by score, and one account with its reasons and its people."""
from __future__ import annotations

from flask import abort, render_template, request

from crm_app.services.dashboard.overview import person_models
from crm_app.services.scoring.accounts import account_models
from crm_app.store.dashboard import accounts as queries
from crm_app.store.scoring.results import stored_result
from crm_app.web.dashboard.blueprint import bp, store
from crm_app.web.dashboard.pages import _cursor, loaded_rules


def _model(models: list) -> str | None:
    names = [m.name for m in models]
    wanted = request.args.get("model")
    if wanted and wanted not in names:
        abort(400, description=f"model must be one of {', '.join(names) or '(no account models)'}")
    return wanted or (names[0] if names else None)


@bp.route("/accounts")
def accounts():
    models = account_models(loaded_rules())
    model = _model(models)
    rows, after = [], _cursor(request.args.get("after"))
    if model:
        with store().read() as conn:
            rows = queries.accounts_page(conn, model, after)
    more = len(rows) > queries.PAGE
    rows = rows[:queries.PAGE]
    next_cursor = f"{rows[-1]['combined']}:{rows[-1]['subject_id']}" if more and rows else None
    return render_template("dashboard/accounts.html", rows=rows, model=model, models=models, next=next_cursor)


@bp.route("/accounts/<int:account_id>")
def account(account_id: int):
    rules = loaded_rules()
    people_models = person_models(rules)
    person_model = _model(people_models)
    with store().read() as conn:
        found = queries.account(conn, account_id)
        if found is None:
            abort(404, description=f"No account with id {account_id}.")
        scores = [(m, stored_result(conn, m.name, account_id)) for m in account_models(rules)]
        people = queries.account_people(conn, account_id, person_model) if person_model else []
    return render_template("dashboard/account.html", a=found, scores=scores, people=people,
                           person_model=person_model, people_models=people_models)
