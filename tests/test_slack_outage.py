"""Slack down and Slack rate-limiting, against the Slack Web API emulator: the web tier starts and serves
without Slack, alerts wait in the ledger and arrive exactly once when Slack is back, posts are paced per
channel, a 429 puts the alert back with its Retry-After while other channels go on, and a channel with more
alerts waiting than it may take gets them bundled in one message, each with its own buttons."""
from __future__ import annotations

import base64
import json
import time

import pytest
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from crm_app.services.playbooks.alert_actions import handle_alert_action
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.slack.blocks import BUNDLE_MAX
from crm_app.slack.pacing import ChannelPacer
from crm_app.slack.senders import SlackSender
from crm_app.store.playbooks import ledger as pb_store
from tests.fake_crm import FakeCrm
from tests.playbook_support import NEW_PQL, NOW, REPS, add_people, playbook_set, runtime, set_scores
from tests.slack_emulator import SlackEmulator

USERS = {f"U{i}": e for i, e in enumerate(REPS)}
AUTH = {"Authorization": "Basic " + base64.b64encode(b"test-write-key:").decode()}
CHANNEL_PQL = """
playbook: channel_pql
trigger: {type: became_pql}
actions:
  - {type: slack_alert, channel: "C0PQL"}
  - {type: set_field, field: PQL_Routed_To__c, value: "alerted"}
"""


@pytest.fixture
def slack():
    emulator = SlackEmulator(USERS).start()
    yield emulator
    emulator.stop()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sender(slack, rate: float = 1.0, burst: int = 3, clock=None) -> SlackSender:
    return SlackSender(WebClient(token="xoxb-t", base_url=slack.base_url),
                       ChannelPacer(rate, burst, clock=clock or time.monotonic))


def statuses(store) -> dict:
    with store.read() as conn:
        return {k: v for k, v in pb_store.status_counts(conn).items()}


def messages_for(slack) -> list:
    """(channel, alert block ids) of every message Slack holds."""
    out = []
    for (channel, _), msg in sorted(slack.messages.items(), key=lambda kv: kv[0][1]):
        blocks = msg["blocks"] if isinstance(msg["blocks"], list) else json.loads(msg["blocks"])
        out.append((channel, [b["block_id"] for b in blocks if b["type"] == "actions"]))
    return out


# -- the web tier without Slack --------------------------------------------------------------------------

def test_the_emulator_made_unreachable_refuses_connections(slack):
    slack.down()
    with pytest.raises(Exception) as info:
        WebClient(token="xoxb-t", base_url=slack.base_url, timeout=2).auth_test()
    assert not isinstance(info.value, SlackApiError)
    with pytest.raises(Exception):  # what Bolt does at construction unless told not to
        App(signing_secret="s", client=WebClient(token="xoxb-t", base_url=slack.base_url, timeout=2))


def test_the_web_tier_starts_and_serves_ingest_and_the_dashboard_while_slack_is_unreachable(
        slack, config, monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_SANDBOX_PATH", str(tmp_path / "crm.db"))
    from crm_app import create_app
    started = time.perf_counter()
    create_app(config).config["PQL_STORE"].dispose()  # without Slack, in the same run: the machine's pace
    without_slack = time.perf_counter() - started
    slack.blackhole()  # accepts connections and never answers: a start-up call to Slack would hang here
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-unreachable")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    started = time.perf_counter()
    app = create_app(config)
    assert time.perf_counter() - started < 2 * without_slack + 3
    assert slack.hung == []
    slack.answer().down()
    assert "/slack/events" in {r.rule for r in app.url_map.iter_rules()}
    client = app.test_client()
    track = {"type": "track", "userId": "u1", "event": "Logged In", "messageId": "m-1"}
    response = client.post("/v1/batch", json={"batch": [track]}, headers=AUTH)
    assert response.status_code == 200 and not response.get_json()["rejected"]
    assert client.get("/dashboard/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert slack.calls == []  # nothing asked Slack anything
    app.config["PQL_STORE"].dispose()


# -- Slack down: queue, back off, deliver once -----------------------------------------------------------

def test_alerts_wait_with_backoff_while_slack_is_down_and_arrive_once_when_it_is_back(slack, sqlite_store):
    set_scores(sqlite_store, add_people(sqlite_store, 3), 80)
    clock = Clock()
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), FakeCrm(REPS), sender=sender(slack, clock=clock))
    slack.down()
    started = time.perf_counter()
    first = run_playbooks(rt, NOW)
    assert time.perf_counter() - started < 1, "nothing sleeps or waits on a dead connection"
    assert first["failed"] == 3 and first["sent"] == 6  # assign + task per person; the alerts wait
    with sqlite_store.read() as conn:
        alerts = [e for e in pb_store.due_entries(conn, NOW + 10_000) if e["action"] == "slack_alert"]
    assert {(e["status"], e["attempts"], e["next_at"]) for e in alerts} == {("failed", 1, NOW + 30)}
    assert statuses(sqlite_store)[("set_field", "pending")] == 3  # held behind the alert
    assert run_playbooks(rt, NOW + 29)["failed"] == 0  # backing off: not even tried
    clock.now += 10
    assert run_playbooks(rt, NOW + 30)["failed"] == 3  # still down: next try after 60 s
    slack.up()
    clock.now += 10
    back = run_playbooks(rt, NOW + 90)
    assert back["sent"] == 6 and back["failed"] == 0
    assert len(slack.messages) == 3 and len(slack.called("chat.postMessage")) == 3
    assert len(slack.called("auth.test")) == 1  # the token is verified once, on first use
    run_playbooks(rt, NOW + 10_000)
    assert len(slack.called("chat.postMessage")) == 3, "an alert was posted twice"
    assert {s for (a, s) in statuses(sqlite_store)} == {"sent"}


# -- rate limits: the emulator, pacing, Retry-After, bundles -----------------------------------------------

def test_the_emulator_limits_each_channel_with_429_and_retry_after(slack):
    slack.limit_channels(per_second=1, burst=1)
    client = WebClient(token="xoxb-t", base_url=slack.base_url)
    client.chat_postMessage(channel="C1", text="one")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="two")
    assert info.value.response.status_code == 429 and info.value.response["error"] == "ratelimited"
    assert info.value.response.headers["Retry-After"] in ("1", ["1"])
    client.chat_postMessage(channel="C2", text="another channel is not limited by C1")
    time.sleep(1.05)
    client.chat_postMessage(channel="C1", text="after Retry-After")


def test_a_429_puts_the_alert_back_and_other_channels_go_on_without_sleeping(slack, sqlite_store):
    set_scores(sqlite_store, add_people(sqlite_store, 3), 80)
    clock = Clock()
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), FakeCrm(REPS), sender=sender(slack, clock=clock))
    slack.rate_limit_next = 1  # Slack refuses the first post whatever our pace says
    started = time.perf_counter()
    report = run_playbooks(rt, NOW)
    assert time.perf_counter() - started < 0.9
    assert report["deferred"] == 1 and len(slack.messages) == 2  # the other two DMs went out
    [limited] = [c for c, _ in slack.limited]
    with sqlite_store.read() as conn:
        [back] = [e for e in pb_store.due_entries(conn, NOW + 100) if e["status"] != "sent"
                  and e["action"] == "slack_alert"]
    assert (back["status"], back["attempts"], back["next_at"]) == ("pending", 0, NOW + 1)
    clock.now += 1
    assert run_playbooks(rt, NOW + 1)["sent"] == 2  # the alert and the step after it
    assert len(slack.messages) == 3 and {c for c, _ in messages_for(slack)} >= {limited}


def playbooks_for_channel():
    pbs = playbook_set(CHANNEL_PQL)
    return pbs


def test_more_alerts_than_a_channel_may_take_go_as_one_message_with_each_alerts_buttons(slack, sqlite_store):
    slack.limit_channels(per_second=1, burst=1)  # stricter than any burst
    set_scores(sqlite_store, add_people(sqlite_store, 10), 80)
    rt = runtime(sqlite_store, playbooks_for_channel(), FakeCrm(REPS), sender=sender(slack, burst=1))
    started = time.perf_counter()
    report = run_playbooks(rt, NOW)
    assert time.perf_counter() - started < 2
    assert report["sent"] == 20 and not slack.limited  # 10 alerts + 10 set_field, one post
    [(channel, block_ids)] = messages_for(slack)
    assert channel == "C0PQL" and len(block_ids) == 10 == len(set(block_ids))
    [post] = slack.called("chat.postMessage")
    blocks = json.loads(post["blocks"]) if isinstance(post["blocks"], str) else post["blocks"]
    assert len(blocks) <= 50
    assert all(f"Person {i} " in post["text"] for i in range(10))  # the notification names everyone
    meta = json.loads(post["metadata"]) if isinstance(post["metadata"], str) else post["metadata"]
    assert len(meta["event_payload"]["refs"]) == 10
    # A click on one alert of the bundle updates only that alert; the others keep their buttons.
    assert handle_alert_action(rt, 3, "claim", "rep1@example.com", NOW, None).ok
    [update] = slack.wait_for("chat.update")
    blocks = json.loads(update["blocks"]) if isinstance(update["blocks"], str) else update["blocks"]
    assert len([b for b in blocks if b["type"] == "actions"]) == 9
    assert "rep1@example.com claimed it" in json.dumps(blocks)


def test_a_bundle_stays_within_50_blocks_and_the_rest_waits_for_the_channel(slack, sqlite_store):
    people = BUNDLE_MAX * 2 + 3
    slack.limit_channels(per_second=1, burst=1)
    set_scores(sqlite_store, add_people(sqlite_store, people), 80)
    clock = Clock()
    rt = runtime(sqlite_store, playbooks_for_channel(), FakeCrm(REPS), sender=sender(slack, burst=1, clock=clock))
    first = run_playbooks(rt, NOW)
    assert first["sent"] == 2 * BUNDLE_MAX and first["deferred"] == people - BUNDLE_MAX
    for step in (1, 2):
        clock.now += 1
        time.sleep(1.0)  # the emulator's own clock
        run_playbooks(rt, NOW + step)
    sizes = [len(ids) for _, ids in messages_for(slack)]
    assert sizes == [BUNDLE_MAX, BUNDLE_MAX, 3] and not slack.limited
    assert all(len(json.loads(p["blocks"]) if isinstance(p["blocks"], str) else p["blocks"]) <= 50
               for p in slack.called("chat.postMessage"))
    assert statuses(sqlite_store) == {("slack_alert", "sent"): people, ("set_field", "sent"): people}


def test_a_bundle_in_doubt_after_a_crash_is_found_not_posted_again(slack, tmp_path):
    from crm_app.store import Store
    url = f"sqlite:///{tmp_path}/doubt.db"
    store = Store(url)
    set_scores(store, add_people(store, 5), 80)

    class Killed(BaseException):
        pass

    def kill_after_post(point, entry):
        if point == "after_dispatch" and entry["action"] == "slack_alert":
            raise Killed()
    pbs = playbooks_for_channel()
    with pytest.raises(Killed):
        run_playbooks(runtime(store, pbs, FakeCrm(REPS), sender=sender(slack, burst=1), fault=kill_after_post), NOW)
    store.dispose()
    store = Store(url)
    run_playbooks(runtime(store, pbs, FakeCrm(REPS), sender=sender(slack, burst=1)), NOW + 5)
    assert len(slack.called("chat.postMessage")) == 1 and slack.called("conversations.history")
    assert statuses(store)[("slack_alert", "sent")] == 5
    store.dispose()


def test_the_pacer_allows_a_burst_then_one_a_second_and_honours_retry_after():
    clock = Clock()
    pacer = ChannelPacer(rate=1, burst=3, clock=clock)
    for _ in range(3):
        assert pacer.wait("C") == 0
        pacer.take("C")
    assert pacer.available("C") == 0 and pacer.wait("C") == pytest.approx(1.0)
    assert pacer.available("D") == 3
    clock.now += 1
    assert pacer.available("C") == 1
    pacer.block("C", 5)
    assert pacer.available("C") == 0 and pacer.wait("C") == pytest.approx(5.0)
    clock.now += 5
    assert pacer.available("C") == 1
    clock.now += 60  # a channel that answered 429 takes one message at a time from then on; others burst
    assert pacer.available("C") == 1 and pacer.available("D") == 3


def test_after_a_429_the_next_alerts_for_that_channel_go_as_one_bundle(slack, sqlite_store):
    slack.limit_channels(per_second=1, burst=1)  # Slack's burst is smaller than our pacer's
    people = add_people(sqlite_store, 4)
    clock = Clock()
    rt = runtime(sqlite_store, playbooks_for_channel(), FakeCrm(REPS), sender=sender(slack, clock=clock))
    set_scores(sqlite_store, people[:2], 80)
    first = run_playbooks(rt, NOW)
    assert first["deferred"] == 1 and len(slack.limited) == 1  # the burst our pacer allowed met a 429
    clock.now += 1
    time.sleep(1.05)  # the emulator's own bucket refills in real time
    run_playbooks(rt, NOW + 1)
    set_scores(sqlite_store, people[2:], 80)
    clock.now += 10  # long enough for a whole burst by our pacer's own count
    time.sleep(1.05)
    run_playbooks(rt, NOW + 12)
    assert len(slack.limited) == 1  # two alerts, and no second 429: they went as one message
    posts = slack.called("chat.postMessage")
    assert len(posts) == 4  # the first alert, the one put back and the 429 itself, then one bundle of two
    meta = json.loads(posts[-1]["metadata"]) if isinstance(posts[-1]["metadata"], str) else posts[-1]["metadata"]
    assert len(meta["event_payload"]["refs"]) == 2




# -- Slack blackholed: connects, never answers -----------------------------------------------------------

def blackhole_sender(slack, clock, timeout: int = 2, probe_timeout: int = 1) -> SlackSender:
    s = SlackSender(WebClient(token="xoxb-t", base_url=slack.base_url, timeout=timeout),
                    ChannelPacer(1.0, 3, clock=clock))
    s.probe.timeout = probe_timeout
    return s


def test_a_blackholed_slack_costs_the_dispatch_loop_one_timeout_then_short_probes_with_backoff(slack, sqlite_store):
    """A new PQL every pass (every 4 s for two minutes) while Slack accepts connections and never answers: the
    loop waits out the timeout once, then the breaker refuses at once and probes with a short auth.test,
    less often each time. Without the breaker every pass would wait out a timeout (30 passes x 2 s)."""
    passes = 30
    ids = add_people(sqlite_store, passes)
    clock = Clock()
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), FakeCrm(REPS), sender=blackhole_sender(slack, clock))
    slack.blackhole()
    spent = []
    for n in range(passes):
        set_scores(sqlite_store, [ids[n]], 80, as_of=NOW + 4 * n)
        started = time.perf_counter()
        run_playbooks(rt, NOW + 4 * n)
        spent.append(time.perf_counter() - started)
        clock.now += 4
    reached = list(slack.hung)
    assert reached[0] in ("users.lookupByEmail", "auth.test") and reached.count("auth.test") == len(reached) - 1
    assert len(reached) <= 7, reached  # one call, then probes after 4, 8, 16, 32 and 64 s closed
    assert sum(spent) < 2 + 1 * (len(reached) - 1) + 0.5 * passes, spent
    slack.answer()
    clock.now += SlackSender.OPEN_AT_MOST
    for later in range(3):
        run_playbooks(rt, NOW + 10_000 + 4_000 * later)
    refs = [ref for post in slack.called("chat.postMessage")
            for ref in _json_arg(post["metadata"])["event_payload"]["refs"]]
    assert len(refs) == len(set(refs)) == passes, "each alert arrives once (some bundled) when Slack answers again"
    assert {s for (a, s) in statuses(sqlite_store)} == {"sent"}


def _json_arg(value):
    return json.loads(value) if isinstance(value, str) else value


def test_a_post_slack_carried_out_but_never_answered_is_found_not_posted_again(slack, sqlite_store):
    set_scores(sqlite_store, add_people(sqlite_store, 1), 80)
    clock = Clock()
    sender_ = blackhole_sender(slack, clock)
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), FakeCrm(REPS), sender=sender_)
    sender_.verify(), sender_.dm_channel(REPS[0])  # Slack answers these; the post is the call that hangs
    slack.blackhole(process=True)
    first = run_playbooks(rt, NOW)
    assert first["failed"] == 1 and len(slack.called("chat.postMessage")) == 1  # Slack has it, we do not know
    with sqlite_store.read() as conn:
        alert = next(e for e in pb_store.due_entries(conn, NOW + 10_000) if e["action"] == "slack_alert")
    assert alert["status"] == "dispatching" and "SlackInDoubt" in alert["error"]  # in doubt: look it up first
    slack.answer()
    clock.now += SlackSender.OPEN_AT_MOST
    run_playbooks(rt, NOW + 10_000)
    assert len(slack.called("chat.postMessage")) == 1, "the alert was posted twice"
    assert slack.called("conversations.history")
    assert {s for (a, s) in statuses(sqlite_store)} == {"sent"}
