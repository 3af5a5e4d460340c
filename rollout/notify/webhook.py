"""A generic JSON webhook for other chat and incident tools: the same facts as Slack, one POST per event.

With a signing key, ``X-Meshroll-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` lets the
receiver check the sender. Deliveries go through the background queue with bounded retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rollout.machine import Notify
from rollout.notify.facts import as_json, facts
from rollout.notify.queue import Delivery, DeliveryQueue, PermanentFailure, TemporaryFailure
from rollout.notify.secrets import Secret
from rollout.spec.models import Experiment
from rollout.status import Status

SIGNATURE_HEADER = "X-Meshroll-Signature"
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8


def signature(key: Secret, body: bytes) -> str:
    return "sha256=" + hmac.new(key.reveal().encode(), body, hashlib.sha256).hexdigest()


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib turns a redirected POST into a GET without its body (301-303) or refuses it (307, 308)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx code


_OPENER = urllib.request.build_opener(_NoRedirects)


class WebhookSender:
    def __init__(self, url: str, key: Secret | None = None) -> None:
        self.url = url
        self.key = key

    def __call__(self, d: Delivery) -> None:
        body = encode(d.body)
        request = urllib.request.Request(self.url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", "meshroll")
        if self.key is not None:
            request.add_header(SIGNATURE_HEADER, signature(self.key, body))
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                response.read(1024)
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise PermanentFailure(
                    f"the webhook answered HTTP {exc.code}, a redirect, which is not followed (it would drop the "
                    "body); set the webhook's url to the address it redirects to"
                ) from None
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise TemporaryFailure(f"the webhook answered HTTP {exc.code}") from None
            raise PermanentFailure(f"the webhook refused the event: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TemporaryFailure(f"cannot reach the webhook ({type(exc).__name__})") from None


class WebhookNotifier:
    def __init__(self, queue: DeliveryQueue) -> None:
        self.queue = queue

    def notify(self, experiment: Experiment, status: Status, note: Notify) -> None:
        f = facts(experiment, status, note)
        self.queue.put(Delivery(f.experiment, f.run, "post", f.terminal, as_json(f), kind=f.kind))

    def notice(self, emoji: str, title: str, lines: list[str]) -> None:
        body = {"kind": "gitops", "headline": title, "lines": lines, "terminal": False}
        self.queue.put(Delivery("gitops", "", "notice", True, body, kind="notice"))

    def close(self, timeout: float = 10.0) -> bool:
        return self.queue.close(timeout)


def webhook_notifier(
    url: str, key: Secret | None = None, *, queue_file: Path | None = None, **queue_options: Any
) -> WebhookNotifier:
    options: dict[str, Any] = {"max_attempts": MAX_ATTEMPTS, **queue_options}
    return WebhookNotifier(DeliveryQueue(WebhookSender(url, key), name="webhook", path=queue_file, **options))
