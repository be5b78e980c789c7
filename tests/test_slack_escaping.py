"""Mrkdwn and link injection: every trait that reaches a Slack block, the fallback text, bundles, digests,
updates after a click, ephemerals and the modal go through `finish`, which escapes `&`, `<` and `>` as
Slack's formatting docs say. The only markup that survives is our own CRM link."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient

from crm_app.services.playbooks.alert_actions import handle_alert_action
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.services.playbooks.messaging import build_context
from crm_app.slack.blocks import (alert_blocks, alert_summary, bundle_blocks, bundle_summary, digest_blocks,
                                  handled_line, not_fit_modal)
from crm_app.slack.senders import OutboxSender, SlackSender, outbox_messages
from crm_app.slack.text import escape, finish, link, safe_url
from crm_app.specs.routing import Rep, Routing
from crm_app.web.dashboard.formatting import mrkdwn
from tests.fake_crm import FakeCrm
from tests.playbook_support import NEW_PQL, NOW, REPS, add_people, playbook_set, runtime, set_scores
from tests.slack_emulator import SlackEmulator

HOSTILE = ["<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C0123|general>", "<!subteam^S1>",
           "<https://evil.example|Open in CRM>", "<mailto:x@evil.example|mail>", "&amp;", "&lt;!channel&gt;",
           "a <!channel> & <@U123> <https://evil.example>", "<<!here>>", "*bold* <!date^1^{date}|x>", ">quote"]
CRM_URL = "https://crm.example/{object}/{id}/view"
OUR_LINK = re.compile(r"<https://crm\.example/[^<>\s|]+\|Open in CRM>")
CONTROL = re.compile(r"<[!@#]|<https?|<mailto")


def context(value: str, trait: str, crm_id: str = "00Q1") -> dict:
    """What the alert shows for a person whose `trait` holds `value`, built by the real context builder."""
    record = {"name": "Ana", "email": "ana@corp.com", "account.name": "Corp", "title": "CTO", "country": "FR",
              "account.industry": "Software"}
    reasons = [["r1", "Invited teammates", 20], ["r2", "Senior title", 10]]
    owner_name = "Rep Zero"
    if trait == "reason":
        reasons.append(["r3", value, 30])
    elif trait == "owner_name":
        owner_name = value
    elif trait != "crm_id":
        record[trait] = value
    else:
        crm_id = value
    routing = Routing(reps=(Rep(email="rep0@example.com", name=owner_name),), crm_url=CRM_URL)
    row = {"subject_id": 1, "model": "conversion", "combined": 85, "fit": 45, "behaviour": 40, "band": "high",
           "pql": True, "reasons": reasons}
    return build_context(record, row, routing, "rep0@example.com", "new_pql", crm=("leads", crm_id))


TRAITS = ["name", "first_name", "email", "account.name", "title", "country", "state", "region", "plan",
          "account.industry", "account.employees", "account.plan", "reason", "owner_name", "crm_id"]


def surfaces(ctx: dict, value: str) -> list:
    """Everything that may leave for Slack about this context, finished as the senders finish it."""
    reps = [("rep0@example.com", ctx["owner"]["name"]), ("rep1@example.com", value)]
    handled = handled_line("not_fit", value, NOW, value)
    return [finish(alert_summary(ctx)), finish(alert_blocks(ctx, 1, reps)),
            finish(alert_blocks(ctx, 1, reps, handled=handled)),
            finish(bundle_summary([alert_summary(ctx), value])),
            finish(bundle_blocks([(ctx, 1, None), (ctx, 2, handled)], reps)),
            finish(digest_blocks("rep0@example.com", [dict(ctx, top_signals=value)])),
            finish(f"Already handled: {handled}"), finish(not_fit_modal(1))]


def assert_inert(out, crm_id: str | None = None) -> str:
    """No Slack control sequence in the output but our own CRM link; returns the text checked."""
    text = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False)
    text = text.replace("\\n", "\n").replace('\\"', '"')
    rest = OUR_LINK.sub("", text)
    assert not CONTROL.search(rest), f"control sequence left in {rest!r}"
    assert "<" not in rest and ">" not in rest, f"raw < or > left in {rest!r}"
    return text


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("trait", TRAITS)
def test_no_trait_can_mention_or_link(trait, value):
    ctx = context(value, trait)
    for out in surfaces(ctx, value):
        assert_inert(out)
    shown = json.dumps(finish(alert_blocks(ctx, 1, [])), ensure_ascii=False)
    if trait not in ("crm_id", "owner_name", "first_name", "email", "state", "region", "account.plan"):
        assert escape(value).replace('"', '\\"') in shown, f"{trait} is not shown (escaped) on the alert"


def test_escaping_is_exactly_slacks_three_characters():
    assert escape("AT&T <b> 'x' \"y\" é") == "AT&amp;T &lt;b&gt; 'x' \"y\" é"
    assert escape("&amp;") == "&amp;amp;"  # shown literally as typed, not decoded to &
    assert finish({"type": "plain_text", "text": "<!here>"}) == {"type": "plain_text", "text": "&lt;!here&gt;"}


def test_our_crm_link_stays_a_link_with_a_checked_url_and_escaped_label():
    ctx = context("00Q1", "crm_id")
    section = finish(alert_blocks(ctx, 1, []))[-2]["text"]["text"]
    assert section.endswith("<https://crm.example/leads/00Q1/view|Open in CRM>")
    hostile = finish(alert_blocks(context("1|<!channel>/x>", "crm_id"), 1, []))[-2]["text"]["text"]
    assert "<https://crm.example/leads/1%7C%3C!channel%3E/x%3E/view|Open in CRM>" in hostile
    assert link("https://a.example/?q=1&r=<2>", "a <b> & c").markup == \
        "<https://a.example/?q=1&amp;r=%3C2%3E|a &lt;b&gt; &amp; c>"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://x.example/", "//evil.example",
                                 "mailto:a@b.example", "https://", "", None, 42])
def test_only_http_and_https_urls_become_links(url):
    assert safe_url(url) is None and link(url, "Open in CRM") is None
    ctx = context("1", "crm_id")
    ctx["crm"]["url"] = url
    out = finish(alert_blocks(ctx, 1, []))
    assert_inert(out)
    assert "CRM id 1" in json.dumps(out)


def test_long_hostile_text_is_cut_without_splitting_an_entity():
    ctx = context("<" * 5000, "name")
    for block in finish(alert_blocks(ctx, 1, [])):
        if block["type"] == "header":
            text = block["text"]["text"]
            assert len(text) <= 150 and text.endswith("&lt;…")


PIECES = st.sampled_from(list("<>&!@#|^:/ .aZ") + ["http", "https://", "mailto:", "channel", "here", "amp;", "lt;",
                                                   "<!", "<@", "<#", "<http"])
HOSTILE_TEXT = st.lists(PIECES, max_size=25).map("".join) | st.text(max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE_TEXT, trait=st.sampled_from(TRAITS))
def test_property_no_untrusted_input_yields_a_control_sequence(value, trait):
    ctx = context(value, trait)
    for out in surfaces(ctx, value):
        assert_inert(out)


@settings(max_examples=100, deadline=None)
@given(value=HOSTILE_TEXT)
def test_property_the_outbox_page_shows_the_text_never_a_link(value):
    html = str(mrkdwn(finish(alert_blocks(context(value, "name"), 1, []))[0]["text"]["text"]))
    assert "<a " not in html and "<" not in html.replace("<strong>", "").replace("</strong>", "")


@pytest.fixture
def slack():
    emulator = SlackEmulator({f"U{i}": e for i, e in enumerate(REPS)}).start()
    yield emulator
    emulator.stop()


def hostile_world(store, sender):
    set_scores(store, add_people(store, 1, name="<!channel> Eve", title="<https://evil.example|Open in CRM>",
                                 country="<@U123>", region="&amp;"), 80)
    pbs = playbook_set(NEW_PQL)
    routing = dataclasses.replace(pbs.routing, crm_url=CRM_URL, reps=tuple(
        dataclasses.replace(r, name="<!here> rep") for r in pbs.routing.reps))
    pbs = dataclasses.replace(pbs, routing=routing)
    rt = runtime(store, pbs, FakeCrm(REPS), sender=sender)
    run_playbooks(rt, NOW)
    return rt


def test_end_to_end_the_posted_alert_and_its_fallback_text_are_inert(slack, sqlite_store):
    hostile_world(sqlite_store, SlackSender(WebClient(token="xoxb-t", base_url=slack.base_url)))
    [post] = slack.called("chat.postMessage")
    assert_inert(post["text"])
    assert "&lt;!channel&gt; Eve" in post["text"]
    text = assert_inert(_obj(post["blocks"]))
    assert "&lt;https://evil.example|Open in CRM&gt;" in text and "&lt;@U123&gt;" in text and "&amp;amp;" in text
    assert "&lt;!here&gt; rep" in text


def test_end_to_end_the_updated_message_after_a_hostile_reason_is_inert(slack, sqlite_store):
    rt = hostile_world(sqlite_store, SlackSender(WebClient(token="xoxb-t", base_url=slack.base_url)))
    outcome = handle_alert_action(rt, 1, "not_fit", "<!channel>@corp.com", NOW, "<https://evil.example|x> <!here>")
    assert outcome.ok
    [update] = slack.wait_for("chat.update")
    assert_inert(update["text"])
    text = assert_inert(_obj(update["blocks"]))
    assert "&lt;https://evil.example|x&gt; &lt;!here&gt;" in text
    second = handle_alert_action(rt, 1, "claim", "rep1@example.com", NOW, None)
    assert not second.ok
    assert_inert(finish(second.message))  # what the ephemeral reply carries


def test_end_to_end_the_outbox_stores_what_slack_would_get(sqlite_store):
    hostile_world(sqlite_store, OutboxSender(sqlite_store))
    [message] = outbox_messages(sqlite_store)
    assert_inert(message["text"])
    assert_inert(message["blocks"])


def _obj(value):
    return json.loads(value) if isinstance(value, str) else value
