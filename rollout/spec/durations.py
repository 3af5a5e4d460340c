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


_BARE_NUMBER = re.compile(r"\d+(\.\d+)?")
_IN_SECONDS = re.compile(r"(\d+(?:\.\d+)?)s")
MIN_DELAY_SECONDS = 0.001
MAX_DELAY_SECONDS = 60.0


def parse_delay(value: Any) -> float:
    """Seconds from a fault's delay, 1ms to 60s, which must say its unit: a bare number is refused (meshroll
    reads one as seconds, Istio and most latency settings as milliseconds: ``50`` is a 50-second delay to
    one reader and a 50-millisecond one to the other)."""
    written = value.strip() if isinstance(value, str) else value
    number = _bare_number(written)
    if number is not None:
        raise ValueError(
            f"a delay needs a unit (a bare {number} would be {number} seconds); write a unit: {number}ms or {number}s"
        )
    if not isinstance(written, str) or not re.fullmatch(DURATION_PATTERN, written):
        raise ValueError(f"{_show(value)} is not a delay; write it with its unit, like 300ms or 2s")
    seconds = parse_duration(written)
    if seconds < MIN_DELAY_SECONDS:
        raise ValueError("a delay must be at least 1ms")
    if seconds > MAX_DELAY_SECONDS:
        in_seconds = _IN_SECONDS.fullmatch(written)
        hint = f"; for {in_seconds.group(1)} milliseconds write {in_seconds.group(1)}ms" if in_seconds else ""
        raise ValueError(f"a delay of {written} is above the maximum of {MAX_DELAY_SECONDS:g}s{hint}")
    return seconds


def _bare_number(value: Any) -> str | None:
    """``value`` as written when it is a number without a unit (``50``, ``0.5``, ``"50"``); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return f"{value:g}" if math.isfinite(value) and value >= 0 else None
    return value if isinstance(value, str) and _BARE_NUMBER.fullmatch(value) else None


DelayDuration = Annotated[
    float,
    BeforeValidator(parse_delay),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["300ms", "50ms", "2s"]}),
]
"""A delay in seconds, written with its unit, such as ``300ms`` (a bare number is refused: the CRD takes a
string only, so ``kubectl apply`` refuses what ``meshroll validate`` does)."""
