"""``meshroll chaos stop --all``: remove every fault meshroll injected in a cluster, at once.

For each Experiment (Istio is the provider that injects faults), the mesh is set to the
experiment's recorded traffic without its faults, and the Experiment is annotated
``meshroll.io/chaos-stopped`` so the controller halts it instead of putting the faults back.
Fault routes whose experiment no longer exists (``meshroll-fault-*`` entries) are removed too.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kubernetes import client as k8s
from pydantic import ValidationError

from chaos.faults import FAULT_ROUTE_PREFIX
from rollout.crd import GROUP, PLURAL, VERSION
from rollout.kube.client import KubeError, NotFound, call
from rollout.mesh.errors import MeshError
from rollout.mesh.factory import provider_for
from rollout.mesh.render_common import is_meshroll_name, read_ownership, write_ownership
from rollout.mesh.render_istio import ROUTES_ANNOTATION
from rollout.mesh.render_istio_parts import FAULT_FIELD
from rollout.plan import recorded_traffic, run_plan
from rollout.spec.models import Experiment
from rollout.status import Status

STOPPED_ANNOTATION = "meshroll.io/chaos-stopped"


@dataclass
class StopReport:
    stopped: list[str] = field(default_factory=list)  # experiments whose faults were removed
    orphans: list[str] = field(default_factory=list)  # fault routes removed from objects with no experiment
    problems: list[str] = field(default_factory=list)


def strip_orphan_fault_routes(vs: dict[str, Any], live_owners: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Remove the faults of experiments that no longer exist. Pure.

    Fault routes carry their owner in their name (``meshroll-fault-<n>.<ns>.<name>``). A fault meshroll
    put on the user's own route is recorded in the object's annotations (owner, owned fields): when
    that owner is gone and exactly one of the user's routes has a fault, that fault goes too.
    """
    new = copy.deepcopy(vs)
    routes = new.get("spec", {}).get("http")
    if not isinstance(routes, list):
        return new, []
    slugs = {owner.replace("/", ".") for owner in live_owners}

    def orphan(route: object) -> bool:
        name = route.get("name") if isinstance(route, dict) else None
        return isinstance(name, str) and name.startswith(FAULT_ROUTE_PREFIX) and name.split(".", 1)[-1] not in slugs

    removed = [str(r["name"]) for r in routes if orphan(r)]
    kept = [r for r in routes if not orphan(r)]
    ownership = read_ownership(new, ROUTES_ANNOTATION)
    if ownership.owner is not None and ownership.owner not in live_owners:
        faulted = [r for r in kept if isinstance(r, dict) and "fault" in r and not is_meshroll_name(r.get("name"))]
        if FAULT_FIELD in ownership.fields and len(faulted) == 1:
            del faulted[0]["fault"]
            removed.append(f"{faulted[0].get('name', 'route')}.fault")
        if removed:
            ownership.entries = [e for e in ownership.entries if e not in removed]
            ownership.fields = [f for f in ownership.fields if f != FAULT_FIELD]
            write_ownership(new, ownership, ROUTES_ANNOTATION)
    new["spec"]["http"] = kept
    return new, removed


def sweep_orphans(api: k8s.ApiClient, namespace: str | None, live: set[str]) -> StopReport:
    """Remove faults whose experiment no longer exists: the controller does this on becoming leader."""
    report = StopReport()
    report.orphans = _sweep_orphans(api, namespace, live, report)
    return report


def stop_all(api: k8s.ApiClient, namespace: str | None = None) -> StopReport:
    report = StopReport()
    custom = k8s.CustomObjectsApi(api)
    try:
        items = _list(custom, "Experiments", (GROUP, VERSION, PLURAL), namespace)
    except NotFound:
        check_api_server(api)  # a 404 from a server that is no API server must not read as "nothing to stop"
        items = []  # the CRD is not installed: only orphans can exist
    live: set[str] = set()
    for item in items:
        key = f"{item['metadata']['namespace']}/{item['metadata']['name']}"
        live.add(key)
        try:
            experiment = Experiment.model_validate(_user_object(item))
            status = Status.model_validate(_meshroll_status(item))
        except ValidationError:
            continue  # an invalid Experiment never injected anything
        if not status.traffic.faults or experiment.spec.mesh.provider != "istio":
            continue
        try:
            # the run's traffic without its faults: the weights, cohort, mirror and sticky route stay
            provider_for(experiment, api).apply(recorded_traffic(run_plan(experiment), key, status, faults=False))
            annotate = partial(
                custom.patch_namespaced_custom_object,
                GROUP, VERSION, experiment.metadata.namespace, PLURAL, experiment.metadata.name,
                {"metadata": {"annotations": {STOPPED_ANNOTATION: _now()}}},
            )  # fmt: skip
            call(f"annotating Experiment {key}", annotate)
            report.stopped.append(key)
        except (MeshError, KubeError) as exc:
            report.problems.append(f"{key}: {exc}")
    report.orphans = _sweep_orphans(api, namespace, live, report)
    return report


def _list(
    custom: k8s.CustomObjectsApi, what: str, kind: tuple[str, str, str], namespace: str | None
) -> list[dict[str, Any]]:
    """Every object of ``kind`` (group, version, plural) in ``namespace``, or in the cluster."""

    def listing() -> Any:
        if namespace:
            return custom.list_namespaced_custom_object(*kind[:2], namespace, kind[2])
        return custom.list_cluster_custom_object(*kind)

    return _items(call(f"listing {what}", listing))


def check_api_server(api: k8s.ApiClient) -> None:
    """Raise KubeError unless the server answers /version as a Kubernetes API server does."""
    try:
        version = call("reading the server's version", k8s.VersionApi(api).get_code)
    except NotFound:
        version = None
    if not getattr(version, "git_version", None):
        raise KubeError(
            f"{api.configuration.host} does not answer as a Kubernetes API server (no /version); "
            "check the server in your kubeconfig"
        )


def _sweep_orphans(api: k8s.ApiClient, namespace: str | None, live: set[str], report: StopReport) -> list[str]:
    custom = k8s.CustomObjectsApi(api)
    group, version, plural = "networking.istio.io", "v1", "virtualservices"
    try:
        listed = _list(custom, "VirtualServices", (group, version, plural), namespace)
    except NotFound:
        return []
    except KubeError as exc:
        report.problems.append(str(exc))
        return []
    removed: list[str] = []
    for vs in listed:
        new, gone = strip_orphan_fault_routes(vs, live)
        if not gone:
            continue
        meta = vs["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        try:
            replace = partial(
                custom.replace_namespaced_custom_object, group, version, meta["namespace"], plural, meta["name"], new
            )
            call(f"updating VirtualService {key}", replace)
            removed += [f"{key}: {name}" for name in gone]
        except KubeError as exc:
            report.problems.append(str(exc))
    return removed


_STATUS_KEYS = frozenset(n for key, f in Status.model_fields.items() for n in (key, f.alias) if n is not None)


def _user_object(item: dict[str, Any]) -> dict[str, Any]:
    """The Experiment as its author wrote it: no server-set metadata (uid, resourceVersion, ...) or status."""
    meta = item.get("metadata", {})
    metadata = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    return {
        "apiVersion": item.get("apiVersion"),
        "kind": item.get("kind"),
        "metadata": metadata,
        "spec": item.get("spec"),
    }


def _meshroll_status(item: dict[str, Any]) -> dict[str, Any]:
    """meshroll's own Status out of ``.status`` (the controller keeps Kubernetes fields beside it)."""
    status = item.get("status") or {}
    return {k: v for k, v in status.items() if k in _STATUS_KEYS} if isinstance(status, dict) else {}


def _items(listing: object) -> list[dict[str, Any]]:
    items = listing.get("items") if isinstance(listing, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
