"""A tiny local HTTP server standing in for Prometheus (or in front of it): records every request's
headers and answers from a script, or forwards to a real Prometheus."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    content_type: str = "application/json"


def vector(value: str = "1") -> Answer:
    payload = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]}}
    return Answer(body=json.dumps(payload).encode())


def error(status: int, error_type: str, message: str) -> Answer:
    return Answer(status, json.dumps({"status": "error", "errorType": error_type, "error": message}).encode())


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]


@dataclass
class Stub:
    """Answers requests with ``respond(recorded) -> Answer``; ``requests`` lists what arrived."""

    respond: Callable[[Recorded], Answer]
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""


def forward_to(upstream: str, *, token: str) -> Callable[[Recorded], Answer]:
    """An auth proxy: 401 unless the bearer token is right, else the upstream Prometheus's answer."""

    def respond(request: Recorded) -> Answer:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return error(401, "unauthorized", "missing or wrong bearer token")
        try:
            with urllib.request.urlopen(upstream + request.path, timeout=5) as answer:
                return Answer(answer.status, answer.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read())

    return respond


@contextmanager
def stub_server(respond: Callable[[Recorded], Answer], *, tls: ssl.SSLContext | None = None) -> Iterator[Stub]:
    """Serve on a free 127.0.0.1 port (https with ``tls``) until the block ends."""
    stub = Stub(respond)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorded = Recorded(self.path, {k: v for k, v in self.headers.items()})
            stub.requests.append(recorded)
            answer = stub.respond(recorded)
            if answer.delay_s:
                time.sleep(answer.delay_s)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    stub.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 with a throwaway self-signed certificate, and that certificate's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshroll test prometheus")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path
