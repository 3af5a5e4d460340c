"""The Experiment CRD, generated from the spec models: one source of truth for users and the API server.

Kubernetes wants a *structural* OpenAPI v3.0 schema: every node typed, no $ref, no JSON-Schema-2020
keywords. This module rewrites pydantic's JSON Schema into that form. The union of mesh providers
becomes one object with every provider's fields (the controller still validates each Experiment
with the pydantic models and reports problems in its status).
"""

from __future__ import annotations

import copy
from typing import Any

from rollout.spec.models import Experiment

GROUP = "meshroll.io"
VERSION = "v1alpha1"
PLURAL = "experiments"
KIND = "Experiment"

_DROP = {"title", "examples", "default", "discriminator", "const", "$defs"}

# What kubectl explain says of the fields every Kubernetes object has (the spec's come from the models). Not of
# metadata: the API server refuses a CRD whose schema says more of it than its type (kubectl explain shows the
# standard ObjectMeta text there).
_API_VERSION = "The API group and version this object is written in, as group/version: meshroll.io/v1alpha1."
_KIND = "The type of this object: Experiment."
_STATUS = (
    "What meshroll observed and decided, written by the controller through the status subresource: the phase, "
    "step and traffic of the current run, the history of its decisions with their numbers, and conditions. "
    "Not for users to edit."
)


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _resolve({**target, **extra}, defs)
    return {key: _resolve(value, defs) for key, value in node.items()}


def _merge_objects(options: list[dict[str, Any]]) -> dict[str, Any]:
    """One object holding every option's properties (a union of object shapes). A property that several options
    have keeps the first one's schema (enums joined); where their descriptions differ, each is kept, prefixed by
    the option it belongs to (``provider istio: ...``), so that none reads as true for the others."""
    properties: dict[str, Any] = {}
    said: dict[str, dict[str, list[str]]] = {}  # property -> description -> the options that say it
    required: set[str] | None = None
    for option in options:
        for name, schema in option.get("properties", {}).items():
            if name in properties and "enum" in properties[name] and "enum" in schema:
                properties[name] = {**properties[name], "enum": sorted({*properties[name]["enum"], *schema["enum"]})}
            else:
                properties.setdefault(name, schema)
            if schema.get("description"):
                said.setdefault(name, {}).setdefault(schema["description"], []).append(_option_label(option))
        names = set(option.get("required", []))
        required = names if required is None else required & names
    for name, descriptions in said.items():
        if len(descriptions) > 1:
            text = " ".join(f"{' and '.join(labels)}: {description}" for description, labels in descriptions.items())
            properties[name] = {**properties[name], "description": text}
    merged: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        merged["required"] = sorted(required)
    return merged


def _option_label(option: dict[str, Any]) -> str:
    """What tells an option of a union apart: its discriminator, the property with a single allowed value
    (``provider istio``)."""
    for name, schema in option.get("properties", {}).items():
        if len(schema.get("enum", ())) == 1:
            return f"{name} {schema['enum'][0]}"
    return "one option"


def _structural(node: Any) -> Any:
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if k not in _DROP or k == "const"}
    if "const" in node:
        node["enum"] = [node.pop("const")]
        node.setdefault("type", "string")
    for key in ("anyOf", "oneOf"):
        if key in node:
            given = node.pop(key)
            options = [o for o in given if o.get("type") != "null"]
            if len(options) < len(given):
                node["nullable"] = True
            if len(options) == 1:
                node = {**_structural(options[0]), **node}
            elif all(o.get("type") == "object" or "properties" in o for o in options):
                node = {**_merge_objects([_structural(o) for o in options]), **node}
            elif {o.get("type") for o in options} == {"string", "object"}:
                # a string or an object (a shorthand): no structural type can say it, so meshroll's own
                # validation (the controller's, on every spec it reads) checks the value
                node = {**node, "x-kubernetes-preserve-unknown-fields": True}
            elif {o.get("type") for o in options} <= {"integer", "number"}:
                node = {**node, "type": "number"}
            else:
                node = (
                    {**node, "x-kubernetes-int-or-string": True, **_value_checks(options)}
                    if {o.get("type") for o in options} == {"integer", "string"}
                    else {**node, "type": "string"}
                )
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in node and not isinstance(node[bound], bool):
            node["minimum" if bound == "exclusiveMinimum" else "maximum"] = node[bound]
            node[bound] = True
    if "prefixItems" in node:
        items = node.pop("prefixItems")
        node["items"] = _structural(items[0]) if items else {"type": "number"}
        node.pop("minItems", None)
        node.pop("maxItems", None)
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    for key in ("properties",):
        if key in node:
            node[key] = {name: _structural(schema) for name, schema in node[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _structural(node[key])
    if "properties" in node:
        node.setdefault("type", "object")
    return node


def _value_checks(options: list[dict[str, Any]]) -> dict[str, Any]:
    """An int-or-string's value checks, side by side: a structural schema allows no types under anyOf, and
    each check binds one kind only (``pattern`` strings, ``minimum`` numbers), so together they say it."""
    return {k: v for o in options for k, v in o.items() if k in ("pattern", "minimum", "maximum")}


def spec_schema() -> dict[str, Any]:
    """The structural schema of ``spec``."""
    schema = Experiment.model_json_schema(by_alias=True)
    resolved = _resolve(schema, schema.get("$defs", {}))
    return dict(_structural(resolved["properties"]["spec"]))


def printer_columns() -> list[dict[str, Any]]:
    """What ``kubectl get experiments`` shows (``-o wide``: priority 1 too). The controller writes ``state``,
    ``currentStep`` and ``meshWeight`` for them (rollout/kube/document.py): a JSONPath can neither fall back
    from the phase to a condition's reason, nor add 1 to ``step`` (the schedule's index), nor find the last
    split the mesh took in the history."""
    columns = [
        ("Status", "string", ".status.state", 0, "The run's phase, or the Ready condition's reason while that "
         "holds the Experiment back (Queued, InvalidSpec, Waiting, MeshError, MetricsUnavailable, ...)"),
        ("Phase", "string", ".status.phase", 1, "The phase of the current (or last) run"),
        ("Step", "integer", ".status.currentStep", 0, "The run's step, counted from 1 as in its Events"),
        ("Weight", "integer", ".status.meshWeight", 0, "The canary's share of the traffic the mesh took last, in "
            "percent"),
        ("Target", "integer", ".status.traffic.canaryWeight", 1, "The canary's share the run wants; it differs "
            "from Weight while the mesh has not taken it (Ready: Applying, or MeshError)"),
        ("Verdict", "string", ".status.verdict", 0, "The outcome of the last judgement"),
        ("Age", "date", ".metadata.creationTimestamp", 0, ""),
    ]  # fmt: skip
    return [
        {"name": name, "type": kind, "jsonPath": path}
        | ({"priority": priority} if priority else {})
        | ({"description": text} if text else {})
        for name, kind, path, priority, text in columns
    ]


def experiment_crd() -> dict[str, Any]:
    """The CustomResourceDefinition for ``experiments.meshroll.io``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "meshroll"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": "experiment",
                "shortNames": ["mrx"],
                "categories": ["meshroll"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns(),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A progressive delivery or chaos experiment run by meshroll.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": _API_VERSION},
                                "kind": {"type": "string", "description": _KIND},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": {
                                    "type": "object",
                                    "description": _STATUS,
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
