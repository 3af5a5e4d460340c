"""Durations as users write them: ``500ms``, ``30s``, ``2m``, ``1h30m``, or a number of seconds."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"


def parse_duration(value: Any) -> float:
    """Seconds from ``value``; raises ValueError with the allowed forms."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write it like 500ms, 30s, 2m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value.strip()):
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(value.strip()))
    else:
        raise ValueError(f"{value!r} is not a duration; write it like 500ms, 30s, 2m or 1h")
    if seconds < 0:
        raise ValueError(f"duration {value!r} is negative")
    return seconds


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
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "2m", "1h"]}),
]
"""A duration in seconds, written and printed as a string such as ``2m``."""
