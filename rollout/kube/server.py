"""``/metrics``, ``/healthz`` and ``/readyz`` on one port, in a background thread (and the POST
routes given, such as Slack's ``/slack/actions``).

``/healthz`` answers 200 while the controller's threads are alive (liveness: a stuck or dead
controller is restarted); ``/readyz`` answers 200 once the controller has listed its
Experiments and can reach the API server (standby replicas are ready too: they are healthy
spares). Each failing check is named in the body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from rollout.errors import RolloutError

Check = Callable[[], list[str]]  # the names of failing checks (empty: all pass)
MAX_POST_BYTES = 1 << 20  # a Slack click carries the whole message it was on; far below this


@dataclass(frozen=True)
class Reply:
    """A POST route's answer."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


PostRoute = Callable[[Mapping[str, str], bytes], Reply]  # (headers, raw body) -> the answer


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` binds all interfaces) as a bind address."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise RolloutError(f"--listen {text!r} is not HOST:PORT; write it like 127.0.0.1:8080 (0.0.0.0:8080 in a Pod)")
    return host.strip("[]") or "0.0.0.0", int(port)


class HealthServer:
    """Serves the registry and the two health checks until ``stop``."""

    def __init__(
        self,
        address: tuple[str, int],
        registry: CollectorRegistry,
        *,
        healthy: Check,
        ready: Check,
        posts: Mapping[str, PostRoute] | None = None,
    ) -> None:
        self.registry = registry
        self.healthy = healthy
        self.ready = ready
        self.posts = dict(posts or {})
        handler = _handler(self)
        try:
            self._server = ThreadingHTTPServer(address, handler)
        except OSError as exc:
            raise RolloutError(
                f"cannot listen on {address[0]}:{address[1]} ({exc.strerror or exc}); pick another --listen port"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="meshroll-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def _handler(owner: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                failing = (owner.healthy if path == "/healthz" else owner.ready)()
                body = ("ok\n" if not failing else "".join(f"failing: {name}\n" for name in failing)).encode()
                self._send(200 if not failing else 503, body, "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain; charset=utf-8")

        def do_POST(self) -> None:
            route = owner.posts.get(self.path.split("?", 1)[0])
            if route is None:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
                return
            length = self.headers.get("Content-Length", "")
            if not length.isdigit():
                self._send(411, b"a Content-Length is required\n", "text/plain; charset=utf-8")
                return
            if int(length) > MAX_POST_BYTES:
                self._send(413, b"too large\n", "text/plain; charset=utf-8")
                return
            body = self.rfile.read(int(length))
            reply = route({k: v for k, v in self.headers.items()}, body)
            self._send(reply.status, reply.body, reply.content_type)

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # probes every few seconds: not worth a log line

    return Handler
