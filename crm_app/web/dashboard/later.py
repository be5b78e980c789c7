"""Sections whose services are still being built elsewhere: each says so honestly and names what it needs."""
from __future__ import annotations

from flask import render_template

from crm_app.services.dashboard import Unavailable
from crm_app.web.dashboard import bp

PENDING = {
    "activity": ("Activity", [Unavailable("Playbook runs, failed actions with retry, and the embedded Slack outbox "
                                          "with working buttons", "playbooks, ledger and Slack outbox (issue 4)")]),
}


def _pending(name: str):
    title, sections = PENDING[name]
    return render_template("dashboard/pending.html", title=title, sections=sections, page=name)


@bp.route("/activity")
def activity():
    return _pending("activity")
