"""A failed Prometheus query, as one line that says what went wrong and what to check next. Pure.

``analysis.prometheus`` sends the queries and hands what it catches here (a requests or urllib3
error, the client library's exception carrying the HTTP status and Prometheus's error body, an
answer that is not Prometheus's API); the line it gets back, the reason of its
``MetricsUnavailableError``, names Prometheus's URL (never its credentials), the cause and the next
step: the credentials, TLS, the URL, the query, or an overloaded server.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException

from analysis import promql

if TYPE_CHECKING:
    from analysis.prometheus import PrometheusConfig


_STATUS_IN_MESSAGE = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (causes, contexts, urllib3's ``reason``, exception args), bounded."""
    seen: list[BaseException] = []
    queue: list[BaseException] = [exc]
    while queue and len(seen) < 20:
        current = queue.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        queue.extend(e for e in linked if isinstance(e, BaseException))
    return seen


def _error_text(body: str) -> str:
    """Prometheus's ``error`` field from an error answer's body, or the body itself, shortened."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return promql.abbreviate(body, 200)
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        kind = decoded.get("errorType")
        text = str(decoded["error"])
        return promql.abbreviate(f"{kind}: {text}" if isinstance(kind, str) and kind not in text else text, 300)
    return promql.abbreviate(body, 200)


def _http_reason(status: int, body: str, config: PrometheusConfig, query: str, where: str) -> str:
    at = f"Prometheus at {config.display_url}"
    detail = _error_text(body)
    if status in (401, 403):
        return f"{at} rejected the credentials (HTTP {status}): check the bearer token or user and password"
    if status == 404:
        return f"{at} has no query API (HTTP 404 for /api/v1/query): give the base URL Prometheus serves its UI on"
    if status in (400, 422):
        return f"{at} rejected the {where} (HTTP {status}: {detail}); the query was: {promql.abbreviate(query)}"
    if status >= 500:
        tries = config.retries + 1
        return f"{at} failed the {where} with HTTP {status} ({detail}) on {tries} attempt(s); is it overloaded?"
    return f"{at} answered HTTP {status} to the {where} ({detail})"


def unavailable_reason(exc: BaseException, config: PrometheusConfig, *, query: str = "", where: str = "query") -> str:
    """One line naming Prometheus's URL, what went wrong and what to check next."""
    at = f"Prometheus at {config.display_url}"
    tries = config.retries + 1
    if isinstance(exc, PrometheusApiClientException):
        match = _STATUS_IN_MESSAGE.match(str(exc))
        if match is not None:
            body = match.group(2)
            with contextlib.suppress(ValueError, SyntaxError, AttributeError):  # the library quotes bytes' repr
                body = ast.literal_eval(body).decode("utf-8", "replace")
            return _http_reason(int(match.group(1)), body, config, query, where)
        return f"{at} failed the {where}: {promql.abbreviate(str(exc))}"
    causes = _causes(exc)
    if isinstance(exc, requests.exceptions.SSLError) and "WRONG_VERSION_NUMBER" in str(causes[-1]):
        return f"{at} does not speak TLS on that port; if it serves plain HTTP, use an http:// URL"
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            f"{at} failed TLS verification ({promql.abbreviate(str(causes[-1]), 120)}): "
            "give its CA bundle (--prometheus-ca-file) or, for a test server only, --prometheus-insecure"
        )
    if isinstance(exc, requests.exceptions.Timeout) or any(isinstance(c, TimeoutError) for c in causes):
        each = f"within {config.timeout:g} s on each of {tries} attempt(s)"
        return f"{at} did not answer the {where} {each}; is it overloaded?"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return f"{at} refused the connection ({tries} attempt(s)): is it running and listening there?"
    if any(isinstance(c, socket.gaierror) for c in causes) or "NameResolutionError" in repr(causes):
        host = urlsplit(config.url).hostname
        return f"{at} cannot be reached: the host name {host!r} does not resolve; check the URL"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"{at} cannot be reached ({tries} attempt(s)): {promql.abbreviate(str(causes[-1]), 160)}"
    if isinstance(exc, ValueError | KeyError | TypeError):
        return f"{at} answered the {where} with something that is not Prometheus's query API: is the URL right?"
    return f"{at} failed the {where}: {promql.abbreviate(str(exc), 200)}"
