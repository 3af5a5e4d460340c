"""Experiments on the API server: reading, listing, watching, writing the status subresource, and
turning an object into a validated ``Experiment``.

Verbs used here (the Helm chart's ClusterRole grants exactly these): ``experiments`` get, list,
watch, patch (``metadata.finalizers`` only, see ``finalizer.py``); ``experiments/status`` update.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import yaml
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from rollout.crd import GROUP, KIND, PLURAL, VERSION
from rollout.kube.client import call
from rollout.spec.loader import SpecError, load_experiment_text
from rollout.spec.models import API_VERSION, Experiment
from rollout.spec.traffic import LocalMeshSpec

Obj = dict[str, Any]
REQUEST_TIMEOUT = (5.0, 30.0)
LOCAL_IN_CLUSTER = (
    "spec.mesh.provider: 'local' is the embedded mesh, which runs on one machine with `meshroll run`; "
    "in a cluster use istio, gateway-api or smi"
)


@dataclass(frozen=True)
class Key:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Key:
        metadata = obj.get("metadata") or {}
        return cls(str(metadata.get("namespace", "default")), str(metadata.get("name", "")))


class InvalidExperiment(Exception):
    """The object's spec does not validate; ``message`` is one line (``path: what to do``)."""

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.message = message
        self.count = count


class Experiments:
    """The Experiment objects, as plain dicts."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self._api = k8s.CustomObjectsApi(api)

    def get(self, key: Key) -> Obj:
        return cast(
            Obj,
            call(
                f"reading Experiment {key}",
                lambda: self._api.get_namespaced_custom_object(
                    GROUP, VERSION, key.namespace, PLURAL, key.name, _request_timeout=REQUEST_TIMEOUT
                ),
            ),
        )

    def list(self, namespace: str | None) -> Obj:
        """The list object (``items`` and ``metadata.resourceVersion``) in ``namespace`` or all (None)."""
        where = f"namespace {namespace}" if namespace else "all namespaces"
        if namespace:
            return cast(
                Obj,
                call(
                    f"listing Experiments in {where}",
                    lambda: self._api.list_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT
                    ),
                ),
            )
        return cast(
            Obj,
            call(
                f"listing Experiments in {where}",
                lambda: self._api.list_cluster_custom_object(GROUP, VERSION, PLURAL, _request_timeout=REQUEST_TIMEOUT),
            ),
        )

    def watch(self, namespace: str | None, resource_version: str, timeout: int) -> Iterator[Obj]:
        """Watch events (``type`` and ``object``) after ``resource_version``, for at most ``timeout`` seconds."""
        watch_module: Any = k8s_watch  # untyped
        watcher = watch_module.Watch()
        if namespace:
            stream = watcher.stream(
                self._api.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                resource_version=resource_version,
                timeout_seconds=timeout,
                allow_watch_bookmarks=True,
            )
        else:
            stream = watcher.stream(
                self._api.list_cluster_custom_object,
                GROUP,
                VERSION,
                PLURAL,
                resource_version=resource_version,
                timeout_seconds=timeout,
                allow_watch_bookmarks=True,
            )
        return cast(Iterator[Obj], stream)

    def replace_status(self, key: Key, body: Obj) -> Obj:
        """PUT the status subresource; ``body.metadata.resourceVersion`` makes it conditional (409 if stale)."""
        return cast(
            Obj,
            call(
                f"writing the status of Experiment {key}",
                lambda: self._api.replace_namespaced_custom_object_status(
                    GROUP, VERSION, key.namespace, PLURAL, key.name, body, _request_timeout=REQUEST_TIMEOUT
                ),
            ),
        )

    def patch_finalizers(self, key: Key, finalizers: Sequence[str], resource_version: str) -> Obj:
        """Set ``metadata.finalizers`` (a JSON merge patch of that field alone), conditional on
        ``resource_version`` (409 if the object changed since it was read)."""
        metadata = {"finalizers": [*finalizers] or None, "resourceVersion": resource_version}
        return self._patch_metadata(key, metadata, f"setting the finalizers of Experiment {key}")

    def patch_annotations(self, key: Key, annotations: Mapping[str, str], resource_version: str) -> Obj:
        """Set ``annotations`` (a JSON merge patch of those keys alone), conditional on ``resource_version``
        when one is given (409 if the object changed since it was read)."""
        metadata: Obj = {"annotations": dict(annotations)}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return self._patch_metadata(key, metadata, f"annotating Experiment {key}")

    def _patch_metadata(self, key: Key, metadata: Obj, doing: str) -> Obj:
        """A JSON merge patch of ``metadata`` alone (a ``resourceVersion`` in it makes it conditional)."""
        return cast(
            Obj,
            call(
                doing,
                lambda: self._api.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    key.namespace,
                    PLURAL,
                    key.name,
                    {"metadata": metadata},
                    _request_timeout=REQUEST_TIMEOUT,
                    _content_type="application/merge-patch+json",
                ),
            ),
        )


def experiment_from(
    obj: Mapping[str, Any], spec: Mapping[str, Any] | None = None, *, new_run: bool = False
) -> Experiment:
    """The validated Experiment of an object (with ``spec`` instead of its own, when given).

    Raises InvalidExperiment with the first problem as ``path: message`` (the same checks and
    messages as ``meshroll validate``). ``new_run``: also refuse what a new run cannot start with
    here: an ``analysis.engine`` this controller cannot load (an engine plugin its image lacks; a run
    under way is still resumed, reverted or deleted with it, its judge holding, blocked), and
    ``provider: local``, which no cluster runs (retrying it would never help).
    """
    metadata = obj.get("metadata") or {}
    document = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {key: metadata[key] for key in ("name", "namespace", "labels", "annotations") if metadata.get(key)},
        "spec": dict(spec if spec is not None else obj.get("spec") or {}),
    }
    try:
        text = yaml.safe_dump(document, sort_keys=False)
        experiment = load_experiment_text(text, str(Key.of(obj)), engines_here=new_run)
    except SpecError as exc:
        first = exc.problems[0]
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        raise InvalidExperiment(f"{first.path}: {first.message}{more}", len(exc.problems)) from None
    if new_run and isinstance(experiment.spec.mesh, LocalMeshSpec):
        raise InvalidExperiment(LOCAL_IN_CLUSTER, 1)
    return experiment


def reference(obj: Mapping[str, Any]) -> Obj:
    """An object reference to ``obj`` (for Events' ``regarding``)."""
    metadata = obj.get("metadata") or {}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "resourceVersion": metadata.get("resourceVersion"),
    }
