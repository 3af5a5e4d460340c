"""Check objects against the upstream CRDs in ``shared/crds``, as the API server's schema would.

The conversion follows ``shared/crds/README.md``: take the served version's ``openAPIV3Schema``,
drop the CEL rules (``x-kubernetes-validations``) and the other ``x-kubernetes-*`` keys, turn
``x-kubernetes-int-or-string`` into ``anyOf`` integer/string, and turn ``nullable: true`` into a
type that also allows ``null``. With ``strict`` (the default), objects that declare their
properties also refuse unknown ones: the API server would silently prune such a field, which
for a renderer is a bug to catch, not to ignore.

CEL rules that matter to meshroll are re-implemented below (``cel_problems``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).resolve().parents[3].parent / "shared" / "crds"
EXAMPLES = CRDS / "examples"

Obj = dict[str, Any]

_CRD_FILES = {
    ("networking.istio.io", "VirtualService"): "istio-virtualservice-crd.yaml",
    ("networking.istio.io", "DestinationRule"): "istio-destinationrule-crd.yaml",
    ("gateway.networking.k8s.io", "HTTPRoute"): "gateway-api-httproute-crd.yaml",
}
_SMI_FILES = {"v1alpha4": "smi-trafficsplit-crd.yaml", "v1alpha1": "smi-trafficsplit-crd.linkerd-smi.yaml"}
_SMI_FILES["v1alpha2"] = _SMI_FILES["v1alpha1"]  # served by linkerd-smi, not by the canonical CRD


def example(name: str) -> list[Obj]:
    """The documents of one upstream example file."""
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if isinstance(d, dict)]


def _crd_file(group: str, version: str, kind: str) -> Path:
    if kind == "TrafficSplit":
        return CRDS / _SMI_FILES[version]
    return CRDS / _CRD_FILES[(group, kind)]


def _convert(node: Any, strict: bool) -> Any:
    if isinstance(node, list):
        return [_convert(item, strict) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _convert(v, strict) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        converted.pop("type", None)
        converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if converted.pop("nullable", False) and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    open_ended = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
    if strict and "properties" in node and not open_ended:
        converted["additionalProperties"] = False
    return converted


@functools.cache
def _validator(group: str, version: str, kind: str, strict: bool) -> jsonschema.protocols.Validator:
    path = _crd_file(group, version, kind)
    for document in yaml.safe_load_all(path.read_text()):
        if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
            continue
        for entry in document["spec"]["versions"]:
            if entry["name"] == version:
                schema = _convert(entry["schema"]["openAPIV3Schema"], strict)
                # The API server always allows these at the root, whether the schema lists them or not.
                schema.setdefault("properties", {}).update(
                    {key: {"type": "string"} for key in ("apiVersion", "kind")} | {"metadata": {"type": "object"}}
                )
                cls = jsonschema.validators.validator_for(schema)
                return cls(schema)  # type: ignore[no-any-return]
    raise LookupError(f"{path.name} has no version {version}")


def schema_errors(obj: Mapping[str, Any], *, strict: bool = True) -> list[str]:
    """Why the object's CRD schema refuses it (empty when it accepts it)."""
    group, _, version = str(obj["apiVersion"]).partition("/")
    validator = _validator(group, version, str(obj["kind"]), strict)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


# --- CEL rules, re-implemented ------------------------------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> float:
    """Seconds in a Go/CEL duration string (``300ms``, ``1.5s``, ``1h2m``); ValueError if malformed."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    position, total = 0, 0.0
    for part in _PART.finditer(body):
        if part.start() != position:
            break
        total += float(part.group(1)) * _UNITS[part.group(2)]
        position = part.end()
    if not body or position != len(body):
        raise ValueError(f"{text!r} is not a duration")
    return -total if text.startswith("-") else total


def _walk_http(obj: Mapping[str, Any]) -> Iterator[tuple[int, Obj]]:
    yield from enumerate(obj.get("spec", {}).get("http") or [])


def cel_problems(obj: Mapping[str, Any]) -> list[str]:
    """The CEL rules meshroll's output could break, checked as the API server would."""
    problems: list[str] = []
    if obj["kind"] == "VirtualService":
        for i, route in _walk_http(obj):
            delay = (route.get("fault") or {}).get("delay") or {}
            for key in ("fixedDelay", "exponentialDelay"):
                if key in delay:
                    try:
                        ok = go_duration(str(delay[key])) >= 1e-3
                    except ValueError:
                        ok = False
                    if not ok:
                        problems.append(f"http[{i}].fault.delay.{key}: must be a valid duration greater than 1ms")
    if obj["kind"] == "HTTPRoute":
        rules = obj.get("spec", {}).get("rules") or []
        if sum(len(r.get("matches") or [{}]) for r in rules) > 128:
            problems.append("rules: the total number of matches must be at most 128")
        for i, rule in enumerate(rules):
            types = [f.get("type") for f in rule.get("filters") or []]
            for kind in sorted({t for t in types if types.count(t) > 1}):
                problems.append(f"rules[{i}].filters: {kind} filter cannot be repeated")
            for f in rule.get("filters") or []:
                fraction = (f.get("requestMirror") or {}).get("fraction")
                if fraction and fraction["numerator"] > fraction.get("denominator", 100):
                    problems.append(f"rules[{i}]: numerator must be less than or equal to denominator")
            for ref in rule.get("backendRefs") or []:
                if ref.get("group", "") == "" and ref.get("kind", "Service") == "Service" and "port" not in ref:
                    problems.append(f"rules[{i}].backendRefs: Must have port for Service reference")
    return problems


def problems(obj: Mapping[str, Any]) -> list[str]:
    """Schema and CEL problems together: what the API server would refuse (bar admission webhooks)."""
    return schema_errors(obj) + cel_problems(obj)
