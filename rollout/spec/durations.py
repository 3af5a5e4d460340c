"""Durations as users write them: ``500ms``, ``30s``, ``2m``, ``1h30m``, or whole seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"
MAX_DURATION_DAYS = 3650
MAX_DURATION_SECONDS = MAX_DURATION_DAYS * 86400.0  # ten years: far past any run, short of any overflow


def parse_duration(value: Any) -> float:
    """Seconds from ``value``; raises ValueError with the allowed forms."""
    wrong = f"{_show(value)} is not a duration; write it like 500ms, 30s, 2m or 1h"
    if isinstance(value, bool) or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(wrong)
    if isinstance(value, float) and math.isfinite(value) and value != int(value):
        raise ValueError(
            f"{_show(value)} seconds is not a whole number; write a duration like {format_duration(abs(value))}"
        )  # the CRD takes whole seconds or a string, as kubectl apply would be told
    if isinstance(value, int | float):  # a huge int is compared before it is made a float, which it may not fit
        seconds = float(value) if abs(value) <= MAX_DURATION_SECONDS else math.inf if value > 0 else -math.inf
    elif isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value.strip()):
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(value.strip()))
    else:
        raise ValueError(wrong)
    if seconds < 0:
        raise ValueError(f"duration {_show(value)} is negative")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {_show(value)} is longer than {MAX_DURATION_DAYS}d, the longest meshroll takes")
    return seconds


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 120.0 -> '2m', 0.3 -> '300ms', 90 -> '1m30s'."""
    if seconds < 1 or seconds != int(seconds):
        millis = round(seconds * 1000)
        if millis % 1000 == 0:
            return f"{millis // 1000}s"
        return f"{millis}ms"
    rest = int(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "2m", "1h"]},
                {"type": "integer", "minimum": 0, "description": "seconds"},
            ]
        }
    ),
]
"""A duration in seconds, written and printed as a string such as ``2m`` (or given as whole seconds: the
CRD takes an int-or-string, so ``kubectl apply`` accepts what ``meshroll validate`` does)."""
