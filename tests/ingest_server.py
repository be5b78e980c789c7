"""A live ingest server on a loopback port, on a given store, and a check that scoring still runs on it."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from sqlalchemy import func, select
from werkzeug.serving import make_server

from crm_app.store import schema

from tests.conftest import ROOT

WRITE_KEY = "test-write-key"


def make_app(store_url: str):
    from crm_app import create_app
    from crm_app.config import Config
    config = Config.from_env({}, database_url=store_url, specs_root=str(ROOT), write_key=WRITE_KEY)
    app = create_app(config)
    app.config["TESTING"] = True
    return app


@contextmanager
def live_server(store_url: str):
    """Yield (base URL, app) for the Flask app served by werkzeug in a thread; stopped on exit."""
    app = make_app(store_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(10)
        app.config["PQL_STORE"].dispose()


def event_counts(store) -> dict:
    """message id -> how many event rows carry it."""
    e = schema.events
    with store.read() as conn:
        return dict(conn.execute(select(e.c.message_id, func.count()).group_by(e.c.message_id)).all())


def score_and_read(store) -> int:
    """A full scoring run, then the dashboard's overview and a page of people: each must succeed."""
    from crm_app.services.dashboard.overview import PeopleQuery, overview, people_page
    from crm_app.services.scoring.run import score
    from crm_app.specs.loader import SpecDirs, load_spec_set
    rules = load_spec_set(SpecDirs.under(ROOT)).rules
    summary = score(store, rules, int(time.time()), mode="full", workers=1)
    for model in summary.models:
        overview(store, rules, model, int(time.time()))
        people_page(store, PeopleQuery(model=model))
    return sum(m.scored for m in summary.models.values())
