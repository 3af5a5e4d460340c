"""``kubectl explain experiments.spec...`` explains every field: each property of the generated CRD (and of the
JSON Schema, whose descriptions it takes) has a description, true to the field, in one paragraph; and where the
mesh providers share a property name, the merged CRD does not say one provider's description of the others."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rollout.crd import _merge_objects, experiment_crd
from rollout.spec.links import LINK_PLACEHOLDERS
from rollout.spec.models import Experiment
from rollout.spec.providers import GatewayApiMeshSpec, IstioMeshSpec, LocalMeshSpec, SmiMeshSpec


def crd_root() -> dict[str, Any]:
    schema: dict[str, Any] = experiment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def properties(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property under ``node``, with its path as kubectl explain spells it (list items and map values
    are walked through: their properties are fields too)."""
    for name, schema in node.get("properties", {}).items():
        yield f"{path}.{name}", schema
        yield from properties(schema, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from properties(node[key], path)


def described(root: dict[str, Any], path: str) -> str:
    node = root
    for name in path.split(".")[1:]:
        node = node.get("items", node)["properties"][name]
    return str(node["description"])


def test_every_property_of_the_crd_has_a_description() -> None:
    """A field added later without a description (an attribute docstring under it) fails here. (Not metadata: the
    API server refuses a CRD that says more of it than its type, and kubectl explain shows ObjectMeta's text.)"""
    found = [(path, schema) for path, schema in properties(crd_root(), "") if path != ".metadata"]
    missing = [path for path, schema in found if not str(schema.get("description", "")).strip()]
    assert missing == [], f"no description (write a docstring under the field): {missing}"
    assert len([path for path, _ in found if path.startswith(".spec.")]) > 140  # the walk reaches every field


def test_every_field_of_the_json_schema_has_a_description() -> None:
    """``meshroll schema`` too, including what the CRD leaves to Kubernetes (metadata)."""
    schema = Experiment.model_json_schema(by_alias=True)
    models = {"Experiment": schema, **schema["$defs"]}
    missing = [
        f"{model}.{name}"
        for model, body in models.items()
        for name, field in body.get("properties", {}).items()
        if not str(field.get("description", "")).strip()
    ]
    assert missing == []


def test_descriptions_are_one_paragraph_each() -> None:
    """kubectl explain wraps the text itself: a line break where the source wrapped would show as a ragged line."""
    broken = [path for path, schema in properties(crd_root(), "") if "\n" in schema.get("description", "")]
    assert broken == []
    assert "\n" not in crd_root()["properties"]["spec"]["description"]


def test_spot_checks_say_what_the_field_does_its_unit_default_and_values() -> None:
    root = crd_root()
    steps = described(root, ".spec.strategy.canary.steps")
    assert steps.startswith("Canary weights in percent, one per step, rising")
    assert "[5, 10, 25, 50]" in steps
    alpha = described(root, ".spec.analysis.alpha")
    assert "rolling back a healthy canary" in alpha and "default 0.01" in alpha
    on_no_data = described(root, ".spec.analysis.onNoData")
    assert all(policy in on_no_data for policy in ("hold", "rollback", "promote-if-not-critical"))
    assert "1h (the default)" in described(root, ".spec.analysis.maxDuration")


def test_the_standard_fields_of_a_kubernetes_object_are_explained() -> None:
    top = crd_root()["properties"]
    assert "meshroll.io/v1alpha1" in top["apiVersion"]["description"]
    assert "Experiment" in top["kind"]["description"]
    assert top["metadata"] == {"type": "object"}  # the API server allows nothing more there
    assert "controller" in top["status"]["description"]


def test_every_embedded_mesh_field_says_it_is_for_meshroll_run_and_demo_only() -> None:
    mesh = crd_root()["properties"]["spec"]["properties"]["mesh"]
    own = [name for name in LocalMeshSpec.model_fields if name != "provider"]
    aliases = [LocalMeshSpec.model_fields[name].alias or name for name in own]
    for alias in aliases:
        text = mesh["properties"][alias]["description"]
        assert text.startswith("For provider local only (meshroll run and meshroll demo)"), alias
    assert "controller refuses" in mesh["properties"]["provider"]["description"]
    assert "controller refuses" in mesh["description"]


def test_a_name_the_providers_share_has_one_description_true_for_each() -> None:
    """The CRD merges the providers into one object; ``provider`` is the one name they share, described once."""
    shared = {
        provider.model_fields["provider"].description
        for provider in (LocalMeshSpec, IstioMeshSpec, GatewayApiMeshSpec, SmiMeshSpec)
    }
    assert len(shared) == 1 and "gateway-api" in str(shared.pop())
    names = [set(p.model_fields) for p in (LocalMeshSpec, IstioMeshSpec, GatewayApiMeshSpec, SmiMeshSpec)]
    assert set.union(*[a & b for a in names for b in names if a is not b]) == {"provider"}


def option(provider: str, **fields: str) -> dict[str, Any]:
    described_fields = {name: {"type": "integer", "description": text} for name, text in fields.items()}
    return {"type": "object", "properties": {"provider": {"type": "string", "enum": [provider]}, **described_fields}}


def test_a_merged_property_whose_providers_describe_it_differently_says_whose_each_description_is() -> None:
    merged = _merge_objects(
        [option("a", port="The router's port."), option("b", port="The Service's port."), option("c", port="x")]
    )
    assert merged["properties"]["port"]["description"] == (
        "provider a: The router's port. provider b: The Service's port. provider c: x"
    )
    same = _merge_objects([option("a", port="A port."), option("b", port="A port.")])
    assert same["properties"]["port"]["description"] == "A port."
    assert same["properties"]["provider"]["enum"] == ["a", "b"]


@pytest.mark.parametrize("placeholder", sorted(LINK_PLACEHOLDERS))
def test_the_link_url_description_names_every_placeholder(placeholder: str) -> None:
    assert "{" + placeholder + "}" in described(crd_root(), ".spec.notify.links.url")
