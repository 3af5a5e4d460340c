"""Talking to the API server: where the configuration comes from, and the one place that turns the
client's exceptions into ``KubeError`` messages that say what to do next.

Everything else in ``rollout.kube`` works with plain dicts through ``CustomObjectsApi`` (the
generic ``/apis/GROUP/VERSION/...`` calls; Leases and events.k8s.io Events are reached the same
way), so no module depends on the client's generated model classes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from rollout.errors import RolloutError

T = TypeVar("T")
Obj = dict[str, Any]

IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
USER_AGENT = "meshroll/0.1.0"  # the API server names meshroll's field manager after it: "meshroll"
RBAC_HINT = "grant it in the meshroll ClusterRole (helm/meshroll) or run with a kubeconfig that may"


class KubeError(RolloutError):
    """An API request failed; ``status`` is the HTTP status (0: no answer), ``temporary`` whether a retry may help."""

    def __init__(self, message: str, *, status: int = 0, temporary: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.temporary = temporary


class Conflict(KubeError):
    """409: the object changed since it was read (optimistic concurrency) or already exists."""


class NotFound(KubeError):
    """404: the object (or its kind) does not exist."""


class NotLeader(KubeError):
    """This replica does not hold the Lease: it must not write."""


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FencedApiClient(k8s.ApiClient):
    """An ApiClient that refuses to send a write unless ``may_write()`` holds at the moment of sending.

    Every write a run makes (its status, its Events, the provider's changes to the mesh) goes
    through one of these, with the Lease as the check. Checking at the last moment, rather than
    when an action starts, matters for a replica that freezes mid-action (a long pause, SIGSTOP)
    and wakes up after another replica took over: it does not finish its stale write. (Only a
    freeze between this check and the bytes reaching the socket escapes it.)
    """

    def __init__(self, configuration: k8s.Configuration, may_write: Callable[[], bool]) -> None:
        super().__init__(configuration)
        self.user_agent = USER_AGENT
        self._may_write = may_write

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if method.upper() in WRITE_METHODS and not self._may_write():
            raise NotLeader(f"not sending {method} {url.split('?', 1)[0]}: this replica does not hold the Lease")
        return super().call_api(method, url, *args, **kwargs)


def api_client(kubeconfig: Path | None = None, *, context: str | None = None) -> k8s.ApiClient:
    """An ApiClient: ``kubeconfig`` when given, in-cluster inside a Pod, else the default kubeconfig."""
    loader: Any = k8s_config  # the loaders are untyped
    if kubeconfig is not None and kubeconfig.is_dir():
        raise KubeError(f"--kubeconfig {kubeconfig} is a folder; give the kubeconfig file (e.g. {kubeconfig}/config)")
    if kubeconfig is not None and not kubeconfig.is_file():
        raise KubeError(f"no kubeconfig at {kubeconfig}; pass --kubeconfig FILE, or run inside a cluster")
    try:
        configuration = k8s.Configuration()
        if kubeconfig is None and os.environ.get(IN_CLUSTER_ENV):
            loader.load_incluster_config(client_configuration=configuration)
        else:
            loader.load_kube_config(
                config_file=str(kubeconfig) if kubeconfig else None, context=context, client_configuration=configuration
            )
        client = k8s.ApiClient(configuration)
        client.user_agent = USER_AGENT
        return client
    except FileNotFoundError:
        where = str(kubeconfig) if kubeconfig else "~/.kube/config"
        raise KubeError(f"no kubeconfig at {where}; pass --kubeconfig FILE, or run inside a cluster") from None
    except Exception as exc:  # the loaders raise ConfigException, yaml and OS errors alike
        raise KubeError(
            f"cannot load the Kubernetes configuration ({type(exc).__name__}: {_first_line(exc)}); "
            "check --kubeconfig, or run inside a cluster with a ServiceAccount"
        ) from None


def call(doing: str, request: Callable[[], T]) -> T:
    """Run one API request; any failure becomes a KubeError whose message starts with ``doing``."""
    try:
        return request()
    except ApiException as exc:
        raise translate(exc, doing) from None
    except (Urllib3Error, OSError) as exc:
        raise KubeError(
            f"{doing}: the API server did not answer ({type(exc).__name__}); "
            "check that it is reachable (kubectl cluster-info)",
            temporary=True,
        ) from None


def translate(exc: ApiException, doing: str) -> KubeError:
    """One line per failure, with the next step."""
    status = int(exc.status or 0)
    detail = _api_message(exc)
    if status == 401:
        return KubeError(
            f"{doing}: the API server rejected the credentials (401); refresh the token or the kubeconfig",
            status=status,
        )
    if status == 403:
        return KubeError(f"{doing}: forbidden (403: {detail}); {RBAC_HINT}", status=status)
    if status == 404:
        return NotFound(
            f"{doing}: not found (404: {detail}); create it, or install its CRD "
            "(meshroll crd | kubectl apply -f - for Experiments)",
            status=status,
        )
    if status == 409:
        return Conflict(f"{doing}: conflict (409: {detail}); re-read and retry", status=status, temporary=True)
    if status in (400, 422):
        return KubeError(f"{doing}: the API server refused the object ({status}: {detail}); fix it", status=status)
    if status == 429 or status >= 500:
        return KubeError(
            f"{doing}: the API server is busy or failing ({status}: {detail}); meshroll retries",
            status=status,
            temporary=True,
        )
    return KubeError(f"{doing}: HTTP {status} ({detail})", status=status)


def _api_message(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return _first_line(body)
        if isinstance(parsed, dict) and parsed.get("message"):
            return _first_line(str(parsed["message"]))
    return str(exc.reason or "no detail")


def _first_line(value: object) -> str:
    text = str(value).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= 300 else line[:297] + "..."


def custom_api(api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(api)
