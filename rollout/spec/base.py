"""Shared pieces of the spec models: the base class and small constrained types."""

from __future__ import annotations

import re
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _one_paragraph(schema: dict[str, Any], model: type[Any]) -> None:
    """Each description in one paragraph: a docstring's line breaks are where its source wraps, which means
    nothing to a reader of ``kubectl explain`` (it wraps the text itself)."""
    for node in (schema, *schema.get("properties", {}).values()):
        if isinstance(node, dict) and isinstance(node.get("description"), str):
            node["description"] = " ".join(node["description"].split())


class SpecModel(BaseModel):
    """Frozen, strict about unknown fields, written in camelCase as Kubernetes objects are.

    Each field's docstring (the string under it) is its description in the JSON Schema and the CRD, which
    ``kubectl explain`` shows: write it for users, and keep it true to the code that reads the field. A
    class docstring is its object's description in the same places (this one is not shown: the base has no
    schema of its own)."""

    model_config = ConfigDict(
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        allow_inf_nan=False,  # .nan and .inf are YAML numbers, but no field means anything by them
        json_schema_extra=_one_paragraph,
    )

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, data: Any) -> Any:
        """``loadUsers: true`` is no number: pydantic would read it as 1, the API server refuses it."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                key = field.alias if field.alias in data else name
                if isinstance(data.get(key), bool) and _numeric(field.annotation):
                    raise ValueError(f"{key}: {str(data[key]).lower()} is not a number; write one, like 1 or 0.5")
        return data


def _numeric(annotation: Any) -> bool:
    """Whether a field holds a number (``int``, ``float``, or one of them or None)."""
    kinds = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return any(kind in (int, float) for kind in kinds)


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a number")
    return value


def _check_weight(value: int) -> int:
    if value > 100:
        raise ValueError(f"weight {value} is above 100")
    if value < 0:
        raise ValueError(f"weight {value} is below 0")
    return value


def _check_percent(value: float) -> float:
    if value > 100:
        raise ValueError(f"percent {value:g} is above 100")
    if value <= 0:
        raise ValueError(f"percent {value:g} must be above 0 (up to 100)")
    return value


def _check_dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


Weight = Annotated[
    int,
    BeforeValidator(_no_bool),
    AfterValidator(_check_weight),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 100}),
]
"""A traffic weight in percent, 0..100."""

Percent = Annotated[
    float,
    BeforeValidator(_no_bool),
    AfterValidator(_check_percent),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 100}),
]
"""A share of requests in percent, above 0 and at most 100."""

Name = Annotated[
    str,
    AfterValidator(_check_dns_label),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}),
]
"""A Kubernetes-style name (DNS-1123 label)."""


def _check_fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{value:g} is outside 0..1 (a proportion: 0.1 is 10%)")
    return value


Fraction = Annotated[
    float,
    BeforeValidator(_no_bool),
    AfterValidator(_check_fraction),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]
"""A proportion from 0 to 1."""
