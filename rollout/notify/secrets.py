"""Tokens and signing keys: where they come from, and a wrapper that never shows them.

A ``Secret`` prints as ``***`` in reprs, f-strings, logs and exception messages; only ``reveal()``
gives the value, at the one place that sends it. ``RedactingFilter`` is a second line of defence on
the loggers that third-party clients write to (slack-sdk logs an incoming-webhook URL in full).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from rollout.errors import RolloutError

MASK = "***"


class Secret:
    """A value that must not be shown: ``repr``/``str`` are ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # no pickling a secret into a file by accident
        raise TypeError("a Secret cannot be pickled")


class SecretError(RolloutError):
    """A secret that is named but cannot be read; the message never contains a secret value."""


class SecretReader(Protocol):
    def read(self, namespace: str, name: str, key: str) -> Secret: ...


def from_env(name: str, env: Mapping[str, str] | None = None) -> Secret | None:
    """The environment variable ``name`` as a Secret, or None when unset or empty."""
    value = (os.environ if env is None else env).get(name, "").strip()
    return Secret(value) if value else None


class KubernetesSecretReader:
    """Reads one key of a Secret with the kubernetes client (in-cluster config, else the kubeconfig)."""

    def __init__(self, api_client: Any | None = None) -> None:
        self._api_client = api_client

    def _core(self) -> Any:
        from kubernetes import client
        from kubernetes import config as kube_config

        config: Any = kube_config  # the client's loaders are untyped
        if self._api_client is None:
            try:
                if os.environ.get("KUBERNETES_SERVICE_HOST"):
                    config.load_incluster_config()
                else:
                    config.load_kube_config()
            except Exception as exc:  # the kubernetes client raises several unrelated types here
                raise SecretError(
                    f"cannot reach Kubernetes to read a Secret ({type(exc).__name__}); "
                    "run in a cluster, set a kubeconfig, or give the token in an environment variable"
                ) from None
            self._api_client = client.ApiClient()
        return client.CoreV1Api(self._api_client)

    def read(self, namespace: str, name: str, key: str) -> Secret:
        from kubernetes.client.exceptions import ApiException

        try:
            secret = self._core().read_namespaced_secret(name, namespace)
        except ApiException as exc:
            what = "does not exist" if exc.status == 404 else f"cannot be read (HTTP {exc.status} {exc.reason})"
            raise SecretError(
                f"Secret {namespace}/{name} {what}; create it with the key {key!r}, "
                "and let meshroll's ServiceAccount get it"
            ) from None
        except SecretError:
            raise
        except Exception as exc:
            raise SecretError(f"reading Secret {namespace}/{name} failed ({type(exc).__name__})") from None
        encoded = (secret.data or {}).get(key)
        if not encoded:
            raise SecretError(f"Secret {namespace}/{name} has no key {key!r}; add it (the value is the token)")
        return secret_value(encoded, key, f"Secret {namespace}/{name}")


def secret_value(encoded: str, key: str, what: str) -> Secret:
    """The value of a Secret's ``key`` as the API gives it (base64); SecretError naming ``what`` when it is not text."""
    try:
        return Secret(base64.b64decode(encoded).decode("utf-8").strip())
    except (binascii.Error, UnicodeDecodeError):
        raise SecretError(f"{what}: key {key!r} is not base64-encoded UTF-8 text; fix it") from None


def redact(text: str, secrets: Iterable[Secret | None]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites records on the logger it is attached to so that no secret value gets through."""

    def __init__(self, secrets: Iterable[Secret | None]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s is not None and s.reveal()]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info is not None and record.exc_info[1] is not None:
            shown = redact(str(record.exc_info[1]), self.secrets)
            if shown != str(record.exc_info[1]):
                record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}: {shown})"
                record.exc_info, record.exc_text = None, None
        return True


def redacting_logger(name: str, secrets: Iterable[Secret | None]) -> logging.Logger:
    """A private logger for one third-party client: it redacts ``secrets``, then hands records to ``name``.

    It is not registered with ``logging`` (so many clients with different secrets do not share one
    filter list and nothing accumulates); its records propagate to the named logger's handlers.
    """
    logger = logging.Logger(name)
    logger.parent = logging.getLogger(name)
    logger.addFilter(RedactingFilter(secrets))
    return logger
