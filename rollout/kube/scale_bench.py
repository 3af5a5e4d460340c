"""How the controller scales with the number of experiments it runs at once: ``meshroll bench controller``.

For each N, against the API server of the kubeconfig: a fresh namespace (deleted afterwards) with N
Istio VirtualServices and DestinationRules, the controller started as a process of its own
(``scale_worker``: the real controller with a Lease, the real Istio provider, a synthetic metric
source), then N Experiments created at once, each a fast canary (a few seconds a step). It waits
until every run has ended (or the timeout), stops the controller and collects what it measured.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from rollout.crd import GROUP, PLURAL, VERSION
from rollout.kube.client import KubeError, NotFound, call
from rollout.kube.finalizer import FINALIZER

ISTIO = ("networking.istio.io", "v1")
TERMINAL = frozenset({"Succeeded", "RolledBack", "Aborted", "Inconclusive"})
READY_TIMEOUT_S = 60.0


class BenchError(KubeError):
    """The bench cannot run here (a CRD missing, the controller did not start...)."""


@dataclass(frozen=True)
class BenchSettings:
    steps: tuple[int, ...] = (20, 50)
    interval_s: int = 3
    timeout_s: float = 240.0  # per N: runs not ended by then count as unfinished
    min_requests: int = 200
    max_concurrent_runs: int = 0  # the controller's --max-concurrent-runs (0: no limit)


@dataclass(frozen=True)
class ScaleResult:
    experiments: int
    finished: int
    phases: dict[str, int]
    seconds: float  # from the first Experiment created to the last run ended (or the timeout)
    first_applied: list[float]  # per experiment: seconds from its creation to its first canary weights applied
    reconciles: list[float]  # seconds, one per reconcile
    requests: dict[str, int]  # the controller's API requests by kind ("GET experiments", "PUT virtualservices", ...)
    cpu_seconds: float
    peak_rss_bytes: int
    source: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def requests_per_experiment_minute(self) -> float:
        return self.total_requests / self.experiments / max(self.seconds / 60.0, 1e-9)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def check_crds(api: k8s.ApiClient) -> None:
    """Refuse clearly unless the API server serves Experiments and Istio VirtualServices."""
    custom = k8s.CustomObjectsApi(api)
    wanted = [
        (GROUP, VERSION, PLURAL, "the Experiment CRD: meshroll crd | kubectl apply -f -"),
        (*ISTIO, "virtualservices", "Istio's CRDs (networking.istio.io/v1 VirtualService)"),
    ]
    for group, version, plural, install in wanted:
        try:
            names = _served(custom, group, version)
        except NotFound:
            names = set()
        if plural not in names:
            raise BenchError(f"the API server does not serve {plural}.{group}/{version}; install {install}")


def _served(custom: k8s.CustomObjectsApi, group: str, version: str) -> set[str]:
    found: Any = call(f"reading /apis/{group}/{version}", lambda: custom.get_api_resources(group, version))
    return {str(r.name) for r in found.resources or ()}


def measure(
    api: k8s.ApiClient,
    kubeconfig: Path | None,
    experiments: int,
    settings: BenchSettings = BenchSettings(),
    *,
    say: Callable[[str], None] = lambda _line: None,
) -> ScaleResult:
    """Run ``experiments`` canaries through a controller process in a fresh namespace; what it took."""
    core, custom = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
    namespace = f"meshroll-bench-{uuid.uuid4().hex[:8]}"
    call(
        f"creating namespace {namespace}",
        lambda: core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace))),
    )
    worker: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="meshroll-bench-") as folder:
        out, log = Path(folder) / "result.json", Path(folder) / "controller.log"
        try:
            for i in range(experiments):
                _create_mesh(custom, namespace, f"svc-{i}")
            worker = _start_worker(kubeconfig, namespace, out, log, settings.max_concurrent_runs)
            say(f"N={experiments}: controller ready in namespace {namespace}; creating {experiments} Experiments")
            created: dict[str, float] = {}
            for i in range(experiments):
                created[f"svc-{i}"] = time.time()
                body = _experiment(namespace, f"canary-{i}", f"svc-{i}", settings)
                _create(f"creating Experiment canary-{i}", custom, (GROUP, VERSION), namespace, PLURAL, body)
            phases = _wait_until_ended(custom, namespace, experiments, settings.timeout_s, worker)
            _stop(worker)
            if not out.is_file():
                raise BenchError(f"the controller process ended without its measurements: {_tail(log)}")
            return _result(json.loads(out.read_text()), created, phases, experiments)
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()
            _clean_up(core, custom, namespace)


def _create_mesh(custom: k8s.CustomObjectsApi, namespace: str, service: str) -> None:
    vs = {
        "apiVersion": f"{ISTIO[0]}/{ISTIO[1]}",
        "kind": "VirtualService",
        "metadata": {"name": service, "namespace": namespace},
        "spec": {
            "hosts": [service],
            "http": [{"name": "primary", "route": [{"destination": {"host": service, "subset": "v1"}, "weight": 100}]}],
        },
    }
    rule = {
        "apiVersion": f"{ISTIO[0]}/{ISTIO[1]}",
        "kind": "DestinationRule",
        "metadata": {"name": service, "namespace": namespace},
        "spec": {"host": service, "subsets": [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]},
    }
    for plural, body in (("virtualservices", vs), ("destinationrules", rule)):
        _create(f"creating {plural} {namespace}/{service}", custom, ISTIO, namespace, plural, body)


def _create(
    doing: str, custom: k8s.CustomObjectsApi, kind: tuple[str, str], namespace: str, plural: str, body: dict[str, Any]
) -> None:
    call(doing, lambda: custom.create_namespaced_custom_object(*kind, namespace, plural, body))


def _experiment(namespace: str, name: str, service: str, settings: BenchSettings) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "target": {"service": service, "stable": {"version": "v1"}, "canary": {"version": "v2"}},
            "mesh": {"provider": "istio", "virtualService": service, "route": "primary", "destinationRule": service},
            "strategy": {"canary": {"steps": list(settings.steps), "stepInterval": f"{settings.interval_s}s"}},
            "analysis": {
                "engine": "sequential",
                "alpha": 0.05,
                "minRequests": settings.min_requests,
                "maxDuration": f"{max(60, int(settings.timeout_s))}s",
                "metrics": [{"name": "error-rate", "template": "istio-error-rate", "margin": 0.5, "critical": True}],
            },
        },
    }


def _start_worker(
    kubeconfig: Path | None, namespace: str, out: Path, log: Path, max_concurrent_runs: int = 0
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "rollout.kube.scale_worker", f"--namespace={namespace}", f"--out={out}"]
    command.append(f"--max-concurrent-runs={max_concurrent_runs}")
    if kubeconfig is not None:
        command.append(f"--kubeconfig={kubeconfig}")
    env = {k: v for k, v in os.environ.items() if k != "POD_NAME"}
    with log.open("wb") as errors:
        worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, env=env)
    assert worker.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        readable, _, _ = select.select([worker.stdout], [], [], 0.2)
        if readable:
            line = worker.stdout.readline()
            if line.strip() == b"ready":
                return worker
        if worker.poll() is not None:
            raise BenchError(f"the controller process exited with {worker.returncode}: {_tail(log)}")
    worker.kill()
    worker.wait()
    raise BenchError(f"the controller did not take its Lease within {READY_TIMEOUT_S:.0f}s: {_tail(log)}")


def _wait_until_ended(
    custom: k8s.CustomObjectsApi, namespace: str, count: int, timeout: float, worker: subprocess.Popen[bytes]
) -> dict[str, str]:
    """Each Experiment's phase once all runs have ended (or at the timeout)."""
    deadline = time.monotonic() + timeout
    phases: dict[str, str] = {}
    while time.monotonic() < deadline and worker.poll() is None:
        listed: Any = call(
            "listing the bench's Experiments",
            lambda: custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL),
        )
        phases = {
            str(item["metadata"]["name"]): str((item.get("status") or {}).get("phase") or "Pending")
            + ("" if (item.get("status") or {}).get("trafficApplied") else "?")
            for item in listed.get("items") or ()
        }
        if len(phases) == count and all(p in TERMINAL for p in phases.values()):
            break
        time.sleep(0.5)
    return phases


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.kill(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _result(raw: dict[str, Any], created: dict[str, float], phases: dict[str, str], count: int) -> ScaleResult:
    first = raw.get("firstApplied") or {}
    began = min(created.values()) if created else raw["began"]
    counted: dict[str, int] = {}
    for phase in phases.values():
        counted[phase] = counted.get(phase, 0) + 1
    return ScaleResult(
        experiments=count,
        finished=sum(1 for p in phases.values() if p in TERMINAL),
        phases=counted,
        seconds=float(raw["ended"]) - began,
        first_applied=[float(first[s]) - t for s, t in created.items() if s in first],
        reconciles=[float(d) for d in raw.get("reconciles") or ()],
        requests={str(k): int(v) for k, v in (raw.get("requests") or {}).items()},
        cpu_seconds=float(raw["cpuSeconds"]),
        peak_rss_bytes=int(raw["peakRssBytes"]),
        source=str(raw.get("source") or ""),
    )


def _clean_up(core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, namespace: str) -> None:
    """Let go of the Experiments still holding meshroll's finalizer (the controller is stopped; their mesh
    objects go with the namespace), then delete the namespace. Best effort."""
    with contextlib.suppress(Exception):
        listed: Any = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        for item in listed.get("items") or ():
            if FINALIZER in ((item.get("metadata") or {}).get("finalizers") or ()):
                with contextlib.suppress(Exception):
                    custom.patch_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, item["metadata"]["name"], {"metadata": {"finalizers": None}}
                    )
    with contextlib.suppress(Exception):
        core.delete_namespace(namespace)


def _tail(log: Path, lines: int = 8) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def milliseconds(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{1000 * seconds:,.0f} ms" if seconds >= 0.1 else f"{1000 * seconds:.1f} ms"


def table(results: Sequence[ScaleResult]) -> list[str]:
    """The markdown rows of the main table (header first)."""
    lines = [
        "| N | finished | create→weights median | p90 | reconcile median | p90 | reconciles | "
        "API req/exp/min | CPU s | peak RSS | wall |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    return lines + [row(r) for r in results]


def row(r: ScaleResult) -> str:
    done = f"{'yes' if r.finished == r.experiments else 'NO'} ({r.finished}/{r.experiments})"
    return (
        f"| {r.experiments} | {done} | {quantile(r.first_applied, 0.5):.2f} s | {quantile(r.first_applied, 0.9):.2f} s "
        f"| {milliseconds(quantile(r.reconciles, 0.5))} | {milliseconds(quantile(r.reconciles, 0.9))} "
        f"| {len(r.reconciles):,} | {r.requests_per_experiment_minute:.1f} | {r.cpu_seconds:.1f} "
        f"| {r.peak_rss_bytes / 2**20:.0f} MiB | {r.seconds:.0f} s |"
    )


def breakdown(results: Sequence[ScaleResult], top: int = 12) -> list[str]:
    """API requests per experiment (whole run), by kind, one column per N: what grows with N shows here."""
    totals: dict[str, float] = {}
    for r in results:
        for kind, count in r.requests.items():
            totals[kind] = totals.get(kind, 0.0) + count / r.experiments
    kinds = sorted(totals, key=lambda k: -totals[k])[:top]
    lines = [
        "| requests per experiment | " + " | ".join(f"N={r.experiments}" for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    for kind in kinds:
        cells = " | ".join(f"{r.requests.get(kind, 0) / r.experiments:.1f}" for r in results)
        lines.append(f"| {kind} | {cells} |")
    return lines
