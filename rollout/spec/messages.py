"""Pydantic's errors, said the way a person fixing a YAML file needs them."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails, PydanticCustomError

Path = tuple[str | int, ...]

MISPLACED = "misplaced_field"  # an error about one key of the mapping a model validator saw: ctx["field"] names it


def misplaced(field: str, message: str) -> PydanticCustomError:
    """An error that belongs to the key ``field`` of the mapping being validated (a key written in the wrong
    place), where a model validator's own error would point at the whole mapping."""
    return PydanticCustomError(MISPLACED, message, {"field": field})


_ABSENT = object()


PATTERN_RULES = {  # the patterns of the spec's fields, said in words
    r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$": (
        "is not a name meshroll takes: lower-case letters, digits, '-' and '_', starting and ending with a letter "
        "or digit (like error-rate)"
    ),
    r"^https?://": "is not an http:// or https:// URL",
    r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$": (
        "is not a version label: letters, digits, '-', '_' and '.', starting and ending with a letter or digit "
        "(like v2 or 1.4.0)"
    ),
}


def _child(container: Any, part: str | int) -> Any:
    if isinstance(container, dict) and part in container:
        return container[part]
    if isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container):
        return container[part]
    return _ABSENT


def data_path(loc: tuple[str | int, ...], data: Any) -> Path:
    """Drop the parts of pydantic's ``loc`` that are not in the document (union tags, validator names)."""
    path: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        child = _child(current, part)
        if child is not _ABSENT:
            path.append(part)
            current = child
        elif last and isinstance(part, str) and isinstance(current, dict) and current.get("provider") != part:
            path.append(part)  # a missing or unknown field (not the mesh's tag, where a model check failed)
        elif isinstance(part, str) and (part.startswith(("function-", "list[", "dict[")) or "[" in part):
            continue
        elif isinstance(current, dict):
            continue  # a union tag such as 'istio'
        else:
            path.append(part)
    return tuple(path)


def error_path(error: ErrorDetails, data: Any) -> Path:
    """Where in the document ``error`` belongs: its ``loc`` as written, down to the key a misplaced-field error
    names, or to the tag a union needs."""
    path = data_path(tuple(error["loc"]), data)
    ctx = error.get("ctx") or {}
    if error["type"] == MISPLACED:
        return (*path, str(ctx["field"]))
    if error["type"].startswith("union_tag"):
        return (*path, str(ctx.get("discriminator", "provider")).strip("'"))
    return path


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _strip(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _choose(tp: Any, data: Any) -> Any:
    tp = _strip(tp)
    if get_origin(tp) in (Union, types.UnionType):
        options = [_strip(a) for a in get_args(tp) if a is not type(None)]
        models = [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]
        if isinstance(data, dict) and "provider" in data:
            for model in models:
                field = model.model_fields.get("provider")
                if field is not None and data["provider"] in get_args(field.annotation):
                    return model
        return models[0] if models else options[0]
    return tp


def _field_annotation(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def allowed_fields(root: type[BaseModel], data: Any, path: Path) -> list[str]:
    """The field names the model at ``path`` accepts (empty when it cannot tell)."""
    tp: Any = root
    current = data
    for part in path:
        tp = _choose(tp, current)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            tp = _field_annotation(tp, part)
        elif origin in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return []
        current = (
            current.get(part)
            if isinstance(current, dict)
            else (
                current[part] if isinstance(current, list) and isinstance(part, int) and part < len(current) else None
            )
        )
        if tp is None:
            return []
    tp = _choose(tp, current)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [info.alias or name for name, info in tp.model_fields.items()]
    return []


def _options(expected: object) -> str:
    """Pydantic's "'a', 'b' or 'c'" as "a, b, c"."""
    return ", ".join(part.strip().strip("'") for part in re.split(r",| or ", str(expected)) if part.strip())


UNIT_HINTS = {
    "steps": "weights are whole percents of the traffic: 10 is 10%",
    "stepWeight": "weights are whole percents of the traffic: 10 is 10%",
    "maxWeight": "weights are whole percents of the traffic: 50 is 50%",
    "margin": "a margin is a fraction: 0.1 allows 10% worse",
    "absoluteMargin": "in the metric's own unit: 0.002 is 0.2 points of error rate",
    "latencyEdges": (
        "edges are plain numbers in the histogram's le unit, which is ms for the built-in templates: 250 for 250 ms"
    ),
}
"""What a number in these fields means, said beside a number refused there."""
_NUMBER_KINDS = frozenset(
    {"int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "greater_than_equal",
     "greater_than", "less_than_equal", "less_than"}
)  # fmt: skip


def friendly(error: ErrorDetails, root: type[BaseModel], data: Any, path: Path) -> str:
    message = _friendly(error, root, data, path)
    field = next((part for part in reversed(path) if isinstance(part, str)), "")
    hint = UNIT_HINTS.get(field) if error["type"] in _NUMBER_KINDS else None
    return f"{message}; {hint}" if hint else message


def _friendly(error: ErrorDetails, root: type[BaseModel], data: Any, path: Path) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    given = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = [f for f in allowed_fields(root, data, path[:-1]) if f != path[-1]]
        return (
            f"unknown field {path[-1]!r}; allowed: {', '.join(allowed)}" if allowed else f"unknown field {path[-1]!r}"
        )
    if kind == "literal_error":
        return f"{given!r} is not allowed; use one of: {_options(ctx.get('expected', ''))}"
    if kind == "union_tag_invalid":
        field = str(ctx.get("discriminator", "kind")).strip("'")
        return f"unknown {field} {ctx.get('tag')!r}; use one of: {_options(ctx.get('expected_tags', ''))}"
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "kind")).strip("'")
        typo = difflib.get_close_matches(field, [str(k) for k in given], n=1) if isinstance(given, dict) else []
        hint = f"; is {typo[0]!r} a misspelling of {field}?" if typo else ""
        return f"{field} is required (one of local, istio, gateway-api, smi){hint}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{given!r} is not a whole number"
    if kind == "finite_number":
        return f"{given!r} is not a finite number; write an ordinary number"
    if kind in ("float_parsing", "float_type"):
        return f"{given!r} is not a number"
    if kind in ("bool_parsing", "bool_type"):
        return f"{given!r} is not true or false"
    if kind == "string_type":
        return f"{given!r} is not text; quote it"
    if kind == "list_type":
        return "expected a list (one '- item' per line, or [a, b])"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a mapping of fields (key: value)"
    if kind == "greater_than_equal":
        return f"{given} is below the minimum {ctx['ge']}"
    if kind == "greater_than":
        return f"{given} must be above {ctx['gt']}"
    if kind == "less_than_equal":
        return f"{given} is above the maximum {ctx['le']}"
    if kind == "less_than":
        return f"{given} must be below {ctx['lt']}"
    if kind == "string_pattern_mismatch":
        rule = PATTERN_RULES.get(str(ctx["pattern"]))
        return f"{given!r} {rule}" if rule else f"{given!r} does not match the pattern {ctx['pattern']}"
    if kind == "too_short" and ctx.get("min_length") == 1 and isinstance(given, list | tuple):
        return "the list is empty; give at least one item"
    if kind in ("too_short", "too_long"):
        return error["msg"].replace("List", "the list").replace("Value", "the value")
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message
