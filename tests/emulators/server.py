"""A threaded HTTPS server on loopback that hands requests to an emulator and can inject faults.

Faults model what the vendors' docs warn about: 429 with Retry-After (rate limits), 500, a connection reset
after the request was processed (the answer is lost, the effect is not), and a timeout (the answer comes too
late). Calls are logged so tests can count them per endpoint.
"""
from __future__ import annotations

import json
import random
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    body: object = None  # dict / list -> JSON; str / bytes -> as is
    headers: dict = field(default_factory=dict)


@dataclass
class Faults:
    """Fail a share of calls at random (seeded), with kinds drawn from `kinds`."""

    rate: float = 0.0
    kinds: tuple = ("429", "500", "reset")
    seed: int = 7
    timeout_seconds: float = 1.5
    start_after: int = 0  # let this many calls through first (to interrupt a run halfway)
    paths: tuple = ()  # when given, only requests whose path ends with one of these can fail
    injected: dict = field(default_factory=dict)

    def __post_init__(self):
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, path: str = "") -> str | None:
        if self.paths and not path.endswith(self.paths):
            return None
        with self._lock:
            if self.start_after > 0:
                self.start_after -= 1
                return None
            if self.rate <= 0 or self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


class EmulatorServer:
    """Serve `app.handle(Request) -> Response` over TLS on 127.0.0.1 in a background thread."""

    def __init__(self, app, cert: str, key: str, faults: Faults | None = None):
        self.app = app
        self.faults = faults or Faults()
        self.calls: list[tuple[str, str]] = []
        self.faulted: list[tuple[str, str]] = []  # (fault kind, path) of every injected fault
        self._lock = threading.Lock()
        handler = _make_handler(self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> "EmulatorServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def log(self, method: str, path: str) -> None:
        with self._lock:
            self.calls.append((method, path))

    def count(self, needle: str, method: str | None = None) -> int:
        """Calls whose path contains `needle` (and with that method), faults included."""
        with self._lock:
            return sum(1 for m, p in self.calls if needle in p and (method is None or m == method))

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()


def _make_handler(server: EmulatorServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes; no 40 ms delayed-ACK stall

        def log_message(self, *args):  # quiet: tests read server.calls instead
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(self.command, parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                              {k.lower(): v for k, v in self.headers.items()}, body)
            server.log(self.command, parts.path)
            fault = server.faults.draw(parts.path)
            if fault:
                server.faulted.append((fault, parts.path))
            if fault == "429":
                return self._send(Response(429, server.app.rate_limited_body(), {"Retry-After": "0"}))
            if fault == "500":
                return self._send(Response(500, server.app.server_error_body()))
            try:
                response = server.app.handle(request)
            except Exception as exc:  # an emulator bug must show in the test, not hang it
                response = Response(500, {"message": f"emulator error: {exc!r}"})
            if fault == "reset":
                return self._reset()
            if fault == "timeout":
                time.sleep(server.faults.timeout_seconds)
                return self._reset()
            self._send(response)

        def _reset(self):
            """Drop the connection with a TCP RST: the work is done, the answer is lost."""
            sock = self.connection
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_connection = True
            try:
                sock.close()
            except OSError:
                pass

        def _send(self, response: Response):
            body = response.body
            ctype = response.headers.pop("Content-Type", None)
            if isinstance(body, (dict, list)):
                data, ctype = json.dumps(body).encode(), ctype or "application/json;charset=UTF-8"
            elif isinstance(body, str):
                data, ctype = body.encode(), ctype or "text/plain"
            else:
                data, ctype = body or b"", ctype or "application/json"
            self.send_response(response.status)
            headers = {**server.app.extra_headers(), **response.headers}
            for key, value in headers.items():
                self.send_header(key, str(value))
            if response.status != 204:
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if response.status != 204:
                self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler
