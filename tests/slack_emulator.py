"""A Slack Web API emulator on loopback, for the real slack_sdk / slack_bolt clients.

Shapes follow Slack's method docs (api.slack.com/methods/<name>): every response is JSON with "ok"; errors
are {"ok": false, "error": "..."}; rate limits answer HTTP 429 with Retry-After (api.slack.com/apis/rate-limits).
It records chat.postMessage / chat.update / chat.postEphemeral / views.open calls for assertions.

chat.postMessage is limited per channel as api.slack.com/methods/chat.postMessage#rate_limiting says
("1 message per second to a specific channel, with short bursts of more than 1 allowed"): with
`limit_channels(per_second, burst)` each channel has a token bucket, and a post that finds it empty gets
HTTP 429 {"ok": false, "error": "ratelimited"} with Retry-After, the whole seconds until a token is back.
`down()` closes the port (connection refused), `up()` serves again on the same port. `blackhole()` keeps
accepting connections and reading requests but never answers (a hung proxy or load balancer);
`blackhole(process=True)` also carries each request out before hanging, like a Slack whose answers are lost.
`answer()` ends it: the hung requests are dropped without an answer and new ones are served.
"""
from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class SlackEmulator:
    def __init__(self, users: dict | None = None, port: int = 0):
        self.users = users or {}  # user id -> email
        self.calls: list = []  # (method, args) in arrival order
        self.messages: dict = {}  # (channel, ts) -> message dict (latest version)
        self.rate_limit_next = 0  # answer this many coming chat.postMessage calls with 429
        self.lose_answer_next = 0  # post this many coming chat.postMessage calls, then drop the connection unanswered
        self.per_second, self.burst = 0.0, 1  # per-channel limit of chat.postMessage; 0 = none
        self.limited: list = []  # (channel, retry_after) of every 429 answered
        self._buckets: dict = {}  # channel -> (tokens, at)
        self._lock = threading.Lock()
        self._ts = 1_790_000_000.000100
        self.hung: list = []  # methods of the requests read and never answered
        self._blackhole: str | None = None  # None, "drop" or "process"
        self._released = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def limit_channels(self, per_second: float = 1.0, burst: int = 1) -> "SlackEmulator":
        self.per_second, self.burst = per_second, burst
        return self

    def down(self) -> None:
        """Slack unreachable: the port is closed."""
        self.stop()

    def blackhole(self, process: bool = False) -> "SlackEmulator":
        """Accept and read every request, answer none (after carrying it out when `process`)."""
        self._released.clear()
        self._blackhole = "process" if process else "drop"
        return self

    def answer(self) -> "SlackEmulator":
        """Stop hanging: requests held so far are dropped unanswered; new ones are served."""
        self._blackhole = None
        self._released.set()
        return self

    def up(self) -> "SlackEmulator":
        """Slack back, on the same port, with the same messages."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        return self.start()

    def _lose_answer(self) -> bool:
        with self._lock:
            if self.lose_answer_next > 0:
                self.lose_answer_next -= 1
                return True
        return False

    def _take(self, channel: str, now: float) -> float:
        """0 when the channel may take a post now (and it is counted), else the seconds to wait."""
        if not self.per_second:
            return 0.0
        tokens, at = self._buckets.get(channel, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
        if tokens < 1:
            self._buckets[channel] = (tokens, now)
            return (1 - tokens) / self.per_second
        self._buckets[channel] = (tokens - 1, now)
        return 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> "SlackEmulator":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    def called(self, method: str) -> list:
        with self._lock:
            return [args for m, args in self.calls if m == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list:
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.called(method)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        return self.called(method)

    def _next_ts(self) -> str:
        self._ts += 0.000100
        return f"{self._ts:.6f}"

    def handle(self, method: str, args: dict):
        """(status, body, headers) for one API call."""
        with self._lock:
            self.calls.append((method, args))
            if method == "auth.test":  # api.slack.com/methods/auth.test
                return 200, {"ok": True, "url": "https://emulated.slack.com/", "team": "Emulated", "user": "pqlbot",
                             "team_id": "T0001", "user_id": "U0BOT", "bot_id": "B0001"}, {}
            if method == "chat.postMessage":  # api.slack.com/methods/chat.postMessage
                channel = args.get("channel")
                if self.rate_limit_next > 0:
                    self.rate_limit_next -= 1
                    self.limited.append((channel, 1))
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
                if not channel:
                    return 200, {"ok": False, "error": "channel_not_found"}, {}
                if not args.get("text") and not args.get("blocks"):
                    return 200, {"ok": False, "error": "no_text"}, {}
                blocks = _json(args.get("blocks"))
                if isinstance(blocks, list) and len(blocks) > 50:  # api.slack.com/reference/block-kit/blocks
                    return 200, {"ok": False, "error": "invalid_blocks"}, {}
                wait = self._take(channel, time.monotonic())
                if wait:
                    retry = max(1, math.ceil(wait))
                    self.limited.append((channel, retry))
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)}
                ts = self._next_ts()
                msg = {"ts": ts, "text": args.get("text"), "blocks": _json(args.get("blocks")),
                       "metadata": _json(args.get("metadata"))}
                self.messages[(channel, ts)] = msg
                return 200, {"ok": True, "channel": channel, "ts": ts, "message": msg}, {}
            if method == "chat.update":  # api.slack.com/methods/chat.update
                key = (args.get("channel"), args.get("ts"))
                if key not in self.messages:
                    return 200, {"ok": False, "error": "message_not_found"}, {}
                self.messages[key].update(text=args.get("text"), blocks=_json(args.get("blocks")))
                return 200, {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text")}, {}
            if method == "chat.postEphemeral":  # api.slack.com/methods/chat.postEphemeral
                return 200, {"ok": True, "message_ts": self._next_ts()}, {}
            if method == "conversations.history":  # api.slack.com/methods/conversations.history
                found = [m for (c, _), m in self.messages.items() if c == args.get("channel")]
                if args.get("include_all_metadata") not in (True, "true", "1", 1):
                    found = [{k: v for k, v in m.items() if k != "metadata"} for m in found]
                return 200, {"ok": True, "messages": sorted(found, key=lambda m: m["ts"], reverse=True),
                             "has_more": False}, {}
            if method == "users.info":  # api.slack.com/methods/users.info (email needs users:read.email)
                email = self.users.get(args.get("user"))
                if email is None:
                    return 200, {"ok": False, "error": "user_not_found"}, {}
                return 200, {"ok": True, "user": {"id": args["user"], "profile": {"email": email}}}, {}
            if method == "users.lookupByEmail":  # api.slack.com/methods/users.lookupByEmail
                uid = next((u for u, e in self.users.items() if e == args.get("email")), None)
                if uid is None:
                    return 200, {"ok": False, "error": "users_not_found"}, {}
                return 200, {"ok": True, "user": {"id": uid, "profile": {"email": args["email"]}}}, {}
            if method == "conversations.open":  # api.slack.com/methods/conversations.open
                return 200, {"ok": True, "channel": {"id": "D" + str(args.get("users"))[1:]}}, {}
            if method == "views.open":  # api.slack.com/methods/views.open
                if not args.get("trigger_id"):
                    return 200, {"ok": False, "error": "invalid_trigger_id"}, {}
                return 200, {"ok": True, "view": {"id": "V0001", **_json(args.get("view"))}}, {}
            return 200, {"ok": False, "error": "unknown_method"}, {}

    def _handler(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                hang = emulator._blackhole
                if hang:
                    with emulator._lock:
                        emulator.hung.append(method)
                    if hang == "process":
                        emulator.handle(method, args)
                    emulator._released.wait(120)
                    self.close_connection = True
                    return
                if not (self.headers.get("Authorization") or "").startswith("Bearer ") and "token" not in args:
                    status, body, headers = 200, {"ok": False, "error": "not_authed"}, {}
                else:
                    status, body, headers = emulator.handle(method, args)
                if self.path.endswith("/chat.postMessage") and body.get("ok") and emulator._lose_answer():
                    self.close_connection = True  # Slack posted it; the answer never reaches the caller
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


def _json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
