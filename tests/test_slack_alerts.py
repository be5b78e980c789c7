"""The Slack alert through the real slack_sdk and slack_bolt, against a Slack Web API emulator on loopback:
signed interactive payloads to the Flask endpoint, Bolt's own request verification, ack within 3 seconds,
the original message updated, second clicks refused, forged/unsigned/stale requests refused with 401."""
from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from flask import Flask
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.web.slack_app import build_bolt_app
from crm_app.slack.pacing import ChannelPacer
from crm_app.slack.senders import SlackSender
from crm_app.store import Store
from crm_app.store.playbooks import alerts as alert_store
from crm_app.web.slack import slack_blueprint
from tests.fake_crm import FakeCrm
from tests.playbook_support import (NEW_PQL, NOW, REPS, add_people, playbook_set, runtime, sandbox_crm, sandbox_rows,
                                    set_scores)
from tests.slack_emulator import SlackEmulator

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
USERS = {f"U{i}": email for i, email in enumerate(REPS)}


class SlowCrm(FakeCrm):
    """A CRM slower than Slack's 3-second limit, to prove the click is acknowledged before the work."""

    delay = 0.0

    def set_owner(self, object_type, record_id, owner_id):
        time.sleep(self.delay)
        super().set_owner(object_type, record_id, owner_id)


@pytest.fixture
def slack():
    emulator = SlackEmulator(USERS).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def world(slack, sqlite_store):
    """One PQL alerted by DM to its round-robin owner (rep0), and the Flask endpoint wired to Bolt."""
    set_scores(sqlite_store, add_people(sqlite_store, 1), 80)
    crm = SlowCrm(REPS)
    client = WebClient(token=TOKEN, base_url=slack.base_url)
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), crm, sender=SlackSender(client))
    run_playbooks(rt, NOW)
    app = Flask(__name__)
    app.register_blueprint(slack_blueprint(build_bolt_app(rt, SECRET, client)))
    return app.test_client(), rt, crm


def signed(payload: dict, secret: str = SECRET, age: int = 0, sign: bool = True):
    """(body, headers) as Slack sends an interactive payload: form-encoded `payload=`, signed v0 HMAC."""
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()) - age)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers.update({"X-Slack-Request-Timestamp": ts,
                        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)})
    return body, headers


def click(slack: SlackEmulator, user: str, action: dict) -> dict:
    """A block_actions payload for the first alert message, as Slack would post it."""
    channel, ts = sorted(slack.messages, key=lambda k: k[1])[0]
    return {"type": "block_actions", "user": {"id": user, "username": user, "team_id": "T0001"},
            "api_app_id": "A0001", "token": "legacy", "team": {"id": "T0001", "domain": "emulated"},
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "channel": {"id": channel, "name": "directmessage"}, "trigger_id": "1337.42.abcd",
            "message": {"ts": ts, "text": "New PQL"}, "response_url": slack.base_url + "response",
            "actions": [{"block_id": "pql_alert_1", "action_ts": str(time.time()), **action}]}


def obj(value):
    """slack_sdk sends chat.* as JSON (objects) and other methods as forms (JSON text): read either."""
    return json.loads(value) if isinstance(value, str) else value


def text_of(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


CLAIM = {"action_id": "pql_claim", "type": "button", "value": "1"}


def handled(rt) -> dict:
    with rt.store.read() as conn:
        return alert_store.get_alert(conn, 1)


def test_the_alert_shows_scores_reasons_firmographics_link_and_buttons(slack, world):
    [post] = slack.called("chat.postMessage")
    assert post["channel"] == "D0"  # a DM to rep0, found by email (users.lookupByEmail + conversations.open)
    blocks = obj(post["blocks"])
    text = json.dumps(blocks, ensure_ascii=False)
    for expected in ("Person 0", "*Combined*\\n80 (high)", "*Fit*\\n40", "*Behaviour*\\n40", "Invited 4 teammate(s)",
                     "Reach out now", "CRM id 00Q000000"):
        assert expected in text
    actions = blocks[-1]["elements"]
    assert [e["action_id"] for e in actions] == ["pql_claim", "pql_assign", "pql_snooze", "pql_not_fit"]
    assert all(len(e["text"]["text"]) <= 75 for e in actions if e["type"] == "button")
    assert obj(post["metadata"])["event_payload"]["ref"] == "pql-ledger-3"


def test_claim_acks_within_3_seconds_then_sets_the_owner_and_updates_the_message(slack, world):
    client, rt, crm = world
    crm.delay = 3.5  # the CRM is slower than Slack allows; the ack must not wait for it
    body, headers = signed(click(slack, "U4", CLAIM))
    started = time.perf_counter()
    response = client.post("/slack/events", data=body, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and elapsed < 3.0, elapsed
    [update] = slack.wait_for("chat.update", timeout=8)
    assert "rep4@example.com claimed it at" in text_of(update["blocks"])
    assert '"actions"' not in text_of(update["blocks"])  # the buttons are gone from the original message
    assert crm.owner_changes[-1] == ("Lead", "00Q000000", crm.owners[4].id)
    crm.delay = 0
    body, headers = signed(click(slack, "U2", CLAIM))
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    [ephemeral] = slack.wait_for("chat.postEphemeral")
    assert ephemeral["text"].startswith("Already handled: rep4@example.com claimed it")
    assert ephemeral["user"] == "U2"
    assert len(slack.called("chat.update")) == 1 and len(crm.owner_changes) == 2  # round-robin + one claim


@pytest.mark.parametrize("case", ["forged", "unsigned", "stale", "tampered"])
def test_forged_unsigned_and_stale_requests_get_401_and_change_nothing(slack, world, case):
    client, rt, crm = world
    payload = click(slack, "U4", CLAIM)
    if case == "forged":
        body, headers = signed(payload, secret="not-the-secret")
    elif case == "unsigned":
        body, headers = signed(payload, sign=False)
    elif case == "stale":
        body, headers = signed(payload, age=301)
    else:
        body, headers = signed(payload)
        body = body.replace("U4", "U5")
    response = client.post("/slack/events", data=body, headers=headers)
    assert response.status_code == 401
    time.sleep(0.2)
    assert handled(rt)["handled_action"] is None
    assert slack.called("chat.update") == [] and len(crm.owner_changes) == 1


def test_a_fresh_signature_is_accepted_just_inside_the_window(slack, world):
    client, rt, crm = world
    body, headers = signed(click(slack, "U4", CLAIM), age=280)
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    slack.wait_for("chat.update")
    assert handled(rt)["handled_by"] == "rep4@example.com"


def test_every_slack_click_is_in_the_audit_log_with_who_which_button_and_which_alert(slack, world):
    from crm_app.services.dashboard.users import audit_entries
    client, rt, crm = world
    for user, answer in (("U4", "chat.update"), ("U2", "chat.postEphemeral")):  # the second is refused, and recorded
        body, headers = signed(click(slack, user, CLAIM))
        assert client.post("/slack/events", data=body, headers=headers).status_code == 200
        slack.wait_for(answer)
    second, first = audit_entries(rt.store, 2, "alert_button")
    assert (first["actor"], first["target"]) == ("rep4@example.com", "alert 1")
    assert {k: first["detail"][k] for k in ("action", "ok", "via", "slack_user", "subject_id")} == \
        {"action": "claim", "ok": True, "via": "slack", "slack_user": "U4", "subject_id": 1}
    assert (second["actor"], second["detail"]["ok"], second["detail"]["slack_user"]) == ("rep2@example.com", False, "U2")
    assert second["detail"]["message"].startswith("Already handled: rep4@example.com claimed it")


def test_assign_to_a_rep_from_the_select(slack, world):
    client, rt, crm = world
    action = {"action_id": "pql_assign", "type": "static_select",
              "selected_option": {"text": {"type": "plain_text", "text": "rep6"}, "value": "1|rep6@example.com"}}
    body, headers = signed(click(slack, "U1", action))
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    [update] = slack.wait_for("chat.update")
    assert "rep1@example.com assigned it to rep6@example.com" in text_of(update["blocks"])
    assert crm.owner_changes[-1][2] == crm.owners[6].id


def test_not_a_fit_asks_for_a_reason_then_records_the_false_positive(slack, world):
    client, rt, crm = world
    body, headers = signed(click(slack, "U3", {"action_id": "pql_not_fit", "type": "button", "value": "1"}))
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    [opened] = slack.wait_for("views.open")
    view = obj(opened["view"])
    assert view["callback_id"] == "pql_not_fit_reason" and view["private_metadata"] == "1"
    submission = {"type": "view_submission", "user": {"id": "U3", "team_id": "T0001"}, "team": {"id": "T0001"},
                  "api_app_id": "A0001", "trigger_id": "1.2.3",
                  "view": {**view, "id": "V0001", "state": {"values": {"reason": {"reason": {
                      "type": "plain_text_input", "value": "Competitor doing research"}}}}}}
    body, headers = signed(submission)
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    [update] = slack.wait_for("chat.update")
    assert "marked it not a fit (Competitor doing research)" in text_of(update["blocks"])
    with rt.store.read() as conn:
        [fp] = alert_store.false_positives(conn)
    assert fp["by"] == "rep3@example.com"
    assert crm.records[("Lead", "00Q000000")]["PQL_Feedback__c"] == "Not a fit: Competitor doing research"


def test_postmessage_429_puts_the_alert_back_until_retry_after(slack, sqlite_store):
    slack.rate_limit_next = 1
    set_scores(sqlite_store, add_people(sqlite_store, 1), 80)
    client = WebClient(token=TOKEN, base_url=slack.base_url)
    clock = [0.0]
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), FakeCrm(REPS),
                 sender=SlackSender(client, ChannelPacer(clock=lambda: clock[0])))
    started = time.perf_counter()
    first = run_playbooks(rt, NOW)
    assert time.perf_counter() - started < 0.9, "the dispatch loop must not sleep on Retry-After"
    assert (first["sent"], first["deferred"]) == (2, 1) and len(slack.messages) == 0
    assert run_playbooks(rt, NOW)["sent"] == 0  # not due before its Retry-After
    clock[0] += 1.0  # the channel's Retry-After has passed
    assert run_playbooks(rt, NOW + 1)["sent"] == 2  # the alert, then the step after it
    assert len(slack.called("chat.postMessage")) == 2 and len(slack.messages) == 1


def test_a_post_in_doubt_is_found_in_history_not_sent_twice(slack, tmp_path):
    url = f"sqlite:///{tmp_path}/doubt.db"
    store = Store(url)
    set_scores(store, add_people(store, 2), 80)
    client, crm, pbs = WebClient(token=TOKEN, base_url=slack.base_url), FakeCrm(REPS), playbook_set(NEW_PQL)

    class Killed(BaseException):
        pass

    def kill_after_post(point, entry):
        if point == "after_dispatch" and entry["action"] == "slack_alert":
            raise Killed()
    with pytest.raises(Killed):
        run_playbooks(runtime(store, pbs, crm, sender=SlackSender(client), fault=kill_after_post), NOW)
    store.dispose()
    store = Store(url)
    run_playbooks(runtime(store, pbs, crm, sender=SlackSender(client)), NOW + 5)
    assert len(slack.messages) == 2 and len(slack.called("chat.postMessage")) == 2
    assert slack.called("conversations.history")  # the in-doubt post was looked up


def test_a_post_whose_answer_was_lost_is_found_in_history_not_sent_twice(slack, sqlite_store):
    """Slack has no idempotency key for chat.postMessage: a retry after a lost answer looks for the message's
    metadata ref in the channel history first."""
    set_scores(sqlite_store, add_people(sqlite_store, 1), 80)
    client, crm, pbs = WebClient(token=TOKEN, base_url=slack.base_url), FakeCrm(REPS), playbook_set(NEW_PQL)
    slack.lose_answer_next = 1
    first = run_playbooks(runtime(sqlite_store, pbs, crm, sender=SlackSender(client)), NOW)
    assert len(slack.messages) == 1 and first["failed"] == 1  # Slack has the post; we do not know it
    again = run_playbooks(runtime(sqlite_store, pbs, crm, sender=SlackSender(client)), NOW + 3600)
    assert again["sent"] >= 1 and again["failed"] == 0, [m for m, _ in slack.calls]
    assert len(slack.messages) == 1 and len(slack.called("chat.postMessage")) == 1
    [(channel, ts)] = slack.messages
    with sqlite_store.read() as conn:
        assert [a["ts"] for a in alert_store.alerts_at(conn, channel, ts)] == [ts]  # the alert knows its message


def test_buttons_act_on_the_sandbox_crm(slack, sqlite_store, tmp_path):
    """Claim and Not a fit through Slack against the real sandbox adapter."""
    set_scores(sqlite_store, add_people(sqlite_store, 2, crm_object="leads"), 80)
    crm = sandbox_crm(tmp_path / "crm.db", 2)
    client = WebClient(token=TOKEN, base_url=slack.base_url)
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), crm, sender=SlackSender(client))
    run_playbooks(rt, NOW)
    app = Flask(__name__)
    app.register_blueprint(slack_blueprint(build_bolt_app(rt, SECRET, client)))
    http = app.test_client()
    body, headers = signed(click(slack, "U5", CLAIM))
    assert http.post("/slack/events", data=body, headers=headers).status_code == 200
    slack.wait_for("chat.update")
    assert sandbox_rows(crm, "SELECT owner_id FROM leads WHERE id = ?", ["00Q000000"]) == [("00500005",)]
    submission = {"type": "view_submission", "user": {"id": "U2", "team_id": "T0001"}, "team": {"id": "T0001"},
                  "api_app_id": "A0001", "trigger_id": "1.2.3",
                  "view": {"id": "V1", "type": "modal", "callback_id": "pql_not_fit_reason", "private_metadata": "2",
                           "state": {"values": {"reason": {"reason": {"value": "Student"}}}}}}
    body, headers = signed(submission)
    assert http.post("/slack/events", data=body, headers=headers).status_code == 200
    slack.wait_for("chat.update", count=2)
    assert sandbox_rows(crm, "SELECT PQL_Feedback__c FROM leads WHERE id = ?", ["00Q000001"]) == [("Not a fit: Student",)]
    assert sandbox_rows(crm, "SELECT count(*) FROM tasks")[0][0] == 2
