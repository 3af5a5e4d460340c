"""Starting what the trigger decided: a local ``meshroll run`` per experiment, or the Experiment in the cluster."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from rollout.gitops.errors import GitOpsError
from rollout.gitops.trigger import Action
from rollout.plan import run_plan
from rollout.spec.models import Experiment
from rollout.spec.traffic import LocalMeshSpec

log = logging.getLogger("meshroll.gitops")

GROUP, VERSION, PLURAL = "meshroll.io", "v1alpha1", "experiments"
STOP_GRACE_SECONDS = 20.0
RUN_MARGIN_SECONDS = 120.0
RUN_OUTCOMES = {0: "promoted", 1: "error", 2: "rolled back", 3: "inconclusive"}


@dataclass(frozen=True)
class StartRequest:
    action: Action
    experiment: Experiment  # validated
    manifest: dict[str, Any]  # the document from git, with the commit annotations
    path: str  # the file in the repository


class StartError(GitOpsError):
    """Starting failed. ``temporary``: try again at the next poll; otherwise report it once and move on."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


class Starter(Protocol):
    def start(self, request: StartRequest) -> None: ...


# --- local: one ``meshroll run`` subprocess per experiment ------------------------------------


@dataclass
class LocalRun:
    key: str
    folder: Path
    process: subprocess.Popen[bytes]
    deadline: float  # time.monotonic() by which the run must have ended (its maxDuration, and a margin)

    @property
    def status_file(self) -> Path:
        return self.folder / "status.json"


class LocalStarter:
    """Runs each experiment with ``meshroll run FILE --status-out STATUS`` in ``work_dir/runs/<ns>.<name>/``.

    Starting an experiment that is still running (a new canary version, or any other change) stops
    the old run first: SIGTERM makes ``meshroll run`` abort safely (router back to stable).
    """

    def __init__(self, work_dir: Path, *, command: Sequence[str] | None = None) -> None:
        self.work_dir = work_dir.resolve()
        self.command = list(command) if command else [sys.executable, "-c", "from rollout.cli import main; main()"]
        self.runs: dict[str, LocalRun] = {}

    def start(self, request: StartRequest) -> None:
        experiment = request.experiment
        if not isinstance(experiment.spec.mesh, LocalMeshSpec):
            raise StartError(
                f"{request.path}:1:1 spec.mesh.provider: --local runs provider local only, "
                f"not {experiment.spec.mesh.provider!r}; drop --local to apply it to the cluster",
                temporary=False,
            )
        self.stop(experiment.key, why="for a newer version")
        folder = self.work_dir / "runs" / f"{experiment.metadata.namespace}.{experiment.metadata.name}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            spec_file = folder / "experiment.yaml"
            spec_file.write_text(yaml.safe_dump(request.manifest, sort_keys=False), encoding="utf-8")
            status = folder / "status.json"
            if status.exists():  # a new run starts from a fresh status; keep the last one for a look
                status.replace(folder / "status.previous.json")
            with (folder / "run.log").open("ab") as out:
                process = subprocess.Popen(
                    [*self.command, "run", str(spec_file), "--status-out", str(status)],
                    cwd=folder,  # its HTML report lands beside the status
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        except OSError as exc:
            raise StartError(f"cannot start a local run of {experiment.key}: {exc.strerror}", temporary=True) from None
        deadline = time.monotonic() + run_plan(experiment).max_duration + RUN_MARGIN_SECONDS
        self.runs[experiment.key] = LocalRun(experiment.key, folder, process, deadline)
        log.info("local run of %s started (pid %d), status in %s", experiment.key, process.pid, status)

    def reap(self) -> list[tuple[str, int]]:
        """The runs that ended since the last call: (key, exit code); each is logged."""
        ended = []
        for key, run in list(self.runs.items()):
            code = run.process.poll()
            if code is not None:
                del self.runs[key]
                ended.append((key, code))
                log.info("local run of %s ended: %s (exit %d)", key, RUN_OUTCOMES.get(code, "error"), code)
        return ended

    def wait(self) -> list[tuple[str, int]]:
        """Wait for every run to end (one past its maxDuration and a margin is stopped); the runs that ended."""
        ended: list[tuple[str, int]] = []
        while self.runs:
            ended += self.reap()
            for key, run in list(self.runs.items()):
                if time.monotonic() > run.deadline:
                    log.error("local run of %s is past its maxDuration; stopping it", key)
                    self.stop(key, why="because it is past its maxDuration")
            time.sleep(0.2)
        return ended

    def stop(self, key: str, *, why: str) -> None:
        """Stop the run of ``key`` (if it still runs); ``why`` ends the log line: ``for a newer version``."""
        run = self.runs.pop(key, None)
        if run is None or run.process.poll() is not None:
            return
        log.info("stopping the local run of %s (pid %d) %s", key, run.process.pid, why)
        run.process.send_signal(signal.SIGTERM)
        try:
            run.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.wait(5)

    def stop_all(self, why: str = "because the trigger is stopping") -> None:
        for key in list(self.runs):
            self.stop(key, why=why)


# --- cluster: create or replace the Experiment custom object ----------------------------------


def _controller_annotations(found: dict[str, Any], metadata: dict[str, Any]) -> dict[str, str]:
    """The annotations the controller keeps on an Experiment that a replacement from git must not drop."""
    from rollout.kube.slack_thread import THREAD_ANNOTATION  # with the kubernetes client, as the applier's calls

    given = metadata.get("annotations") or {}
    present = found.get("annotations") or {}
    return {k: present[k] for k in (THREAD_ANNOTATION,) if k in present and k not in given}


class ClusterApplier:
    def __init__(self, api: Any, *, group: str = GROUP, version: str = VERSION, plural: str = PLURAL) -> None:
        """``api``: a ``kubernetes.client.CustomObjectsApi``."""
        self.api = api
        self.group, self.version, self.plural = group, version, plural
        self.applied: dict[str, int] = {}  # key -> the metadata.generation the last apply made

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path | None) -> ClusterApplier:
        from kubernetes import client
        from kubernetes import config as kube_config

        loader: Any = kube_config  # the client's loaders are untyped
        configuration = client.Configuration()
        try:
            if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                loader.load_incluster_config(client_configuration=configuration)
            else:
                loader.load_kube_config(
                    config_file=str(kubeconfig) if kubeconfig else None, client_configuration=configuration
                )
        except Exception as exc:  # the loaders raise several unrelated types
            where = str(kubeconfig) if kubeconfig else "the default kubeconfig (~/.kube/config or $KUBECONFIG)"
            raise GitOpsError(
                f"cannot load {where}: {str(exc).splitlines()[0].rstrip('.') if str(exc) else type(exc).__name__}; "
                "pass --kubeconfig, or use --local to run experiments on this machine"
            ) from None
        return cls(client.CustomObjectsApi(client.ApiClient(configuration)))

    def start(self, request: StartRequest) -> None:
        from kubernetes.client.exceptions import ApiException

        namespace, name = request.experiment.metadata.namespace, request.experiment.metadata.name
        body = {**request.manifest, "apiVersion": f"{self.group}/{self.version}"}
        args = (self.group, self.version, namespace, self.plural)
        try:
            for _ in range(3):  # a concurrent writer can win between our read and write: read again
                try:
                    current = self.api.get_namespaced_custom_object(*args, name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    self._applied(request, self.api.create_namespaced_custom_object(*args, body))
                    return
                found = current.get("metadata") or {}
                metadata = {**body["metadata"], "resourceVersion": found.get("resourceVersion")}
                if found.get("finalizers"):  # the controllers' (meshroll.io/revert) stay on the replacement
                    metadata["finalizers"] = found["finalizers"]
                kept = _controller_annotations(found, metadata)
                if kept:  # and so does the run's Slack thread (a new run starts its own anyway)
                    metadata["annotations"] = {**kept, **(metadata.get("annotations") or {})}
                replacement = {**body, "metadata": metadata}
                try:
                    self._applied(request, self.api.replace_namespaced_custom_object(*args, name, replacement))
                    return
                except ApiException as exc:
                    if exc.status != 409:
                        raise
            raise StartError(f"{request.experiment.key} kept changing while being replaced; will retry", temporary=True)
        except ApiException as exc:
            raise _api_error(request, exc) from None
        except StartError:
            raise
        except Exception as exc:  # connection refused, TLS, timeouts
            raise StartError(
                f"cannot reach the cluster to apply {request.experiment.key} ({type(exc).__name__}); will retry",
                temporary=True,
            ) from None

    def _applied(self, request: StartRequest, answer: Any) -> None:
        generation = (answer.get("metadata") or {}).get("generation") if isinstance(answer, dict) else None
        if isinstance(generation, int):
            self.applied[request.experiment.key] = generation

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Experiment as the cluster holds it (None: there is none); StartError(temporary) when unreachable."""
        from kubernetes.client.exceptions import ApiException

        try:
            found = self.api.get_namespaced_custom_object(self.group, self.version, namespace, self.plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise StartError(
                f"cannot read {namespace}/{name} (HTTP {exc.status} {exc.reason})", temporary=True
            ) from None
        except Exception as exc:  # connection refused, TLS, timeouts
            message = f"cannot reach the cluster to read {namespace}/{name} ({type(exc).__name__})"
            raise StartError(message, temporary=True) from None
        return found if isinstance(found, dict) else None


def _api_error(request: StartRequest, exc: Any) -> StartError:
    key, status = request.experiment.key, int(exc.status or 0)
    if status == 404:
        return StartError(
            f"the cluster has no {PLURAL}.{GROUP} resource (or no namespace {request.experiment.metadata.namespace}) "
            f"for {key}; install meshroll's chart (its CRD) and create the namespace; will retry",
            temporary=True,
        )
    if status in (401, 403):
        return StartError(
            f"the cluster refused to apply {key} (HTTP {status}); let this identity create and update "
            f"{PLURAL}.{GROUP}; will retry",
            temporary=True,
        )
    if status in (400, 422):
        return StartError(f"{request.path}: the cluster rejected {key}: {_message(exc)}", temporary=False)
    return StartError(f"applying {key} failed (HTTP {status} {exc.reason}); will retry", temporary=True)


def _message(exc: Any) -> str:
    """The API server's own message from an ApiException's body, else its reason."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{exc.reason} (HTTP {exc.status})")
