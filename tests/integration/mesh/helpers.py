"""Helpers for the provider tests against the real API server: objects, a client that gets interrupted."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client as k8s

from rollout.mesh.kubeobjects import KubeObjects, ObjectRef

Obj = dict[str, Any]
SERVER_FIELDS = ("resourceVersion", "generation", "managedFields", "creationTimestamp", "uid")


class Objects:
    """Plain CRUD for one kind in one namespace, as another user of the cluster would do it."""

    def __init__(self, api: k8s.ApiClient, group: str, version: str, plural: str, namespace: str) -> None:
        self.api = k8s.CustomObjectsApi(api)
        self.where = (group, version, namespace, plural)

    def create(self, body: Obj) -> Obj:
        return cast(Obj, self.api.create_namespaced_custom_object(*self.where, body))

    def get(self, name: str) -> Obj:
        return cast(Obj, self.api.get_namespaced_custom_object(*self.where, name))

    def replace(self, name: str, body: Obj) -> Obj:
        return cast(Obj, self.api.replace_namespaced_custom_object(*self.where, name, body))

    def delete(self, name: str) -> None:
        self.api.delete_namespaced_custom_object(*self.where, name)


def in_namespace(obj: Obj, namespace: str) -> Obj:
    result = copy.deepcopy(obj)
    result["metadata"]["namespace"] = namespace
    return result


def without_server_fields(obj: Obj) -> Obj:
    """The object as its writers wrote it: no resourceVersion, generation, managedFields, uid, timestamps."""
    result = copy.deepcopy(obj)
    for key in SERVER_FIELDS:
        result["metadata"].pop(key, None)
    result.pop("status", None)
    return result


class InterruptedObjects(KubeObjects):
    """KubeObjects that lets someone else edit the object right after its first read (a real race)."""

    def __init__(self, api: k8s.ApiClient, interrupt: Callable[[], None]) -> None:
        super().__init__(api)
        self.interrupt: Callable[[], None] | None = interrupt
        self.reads = 0

    def get(self, ref: ObjectRef) -> Obj:
        result = super().get(ref)
        self.reads += 1
        if self.interrupt is not None:
            interrupt, self.interrupt = self.interrupt, None
            interrupt()
        return result
