"""Pure PromQL helpers: safe template rendering, durations, and reading query results.

No I/O here: ``analysis.prometheus`` sends the queries and hands the decoded JSON results back.

Rendering is context-aware. Each ``{{variable}}`` is replaced by a value escaped for where it
stands in the query, so no value (a hostile service name like ``checkout"} or vector(1) #``)
can change the query's structure:

- inside a double- or single-quoted string: backslash, the quote and control characters are
  escaped as PromQL (Go) string escapes;
- inside the string operand of a ``=~`` or ``!~`` matcher: regex metacharacters are escaped
  first (the value matches itself literally), then the string escapes apply;
- inside a backtick raw string: no escape exists, so a value with a backtick is refused;
- outside any string (``[{{window}}]``, ``@ {{end}}``, a metric name part): only values made of
  name characters, digits, ``.`` and ``:`` are accepted (what meshroll itself generates: durations
  and timestamps); anything else is refused with a :class:`QueryTemplateError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_VARIABLE = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")
_REGEX_META = frozenset("\\.+*?()|[]{}^$")
_BARE_VALUE = re.compile(r"[A-Za-z0-9_.:]*")
_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}

VARIABLE_NAMES = (
    "service", "backend", "namespace", "version", "stable", "canary", "window", "start", "end", "step", "reporter",
)  # fmt: skip
"""The variables the Prometheus source fills in, in the order messages list them."""
PROVIDED_VARIABLES = frozenset(VARIABLE_NAMES)


class QueryTemplateError(ValueError):
    """A query template cannot be rendered safely (unknown variable, value in an unsafe place)."""


# --------------------------------------------------------------------------------------------
# Escaping


def escape_string(value: str, quote: str = '"') -> str:
    """``value`` escaped for the inside of a PromQL string quoted with ``quote`` (``"`` or ``'``)."""
    out: list[str] = []
    for char in value:
        if char == quote:
            out.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def escape_regex(value: str) -> str:
    """``value`` as an RE2 pattern that matches exactly ``value`` (Prometheus anchors it)."""
    return "".join("\\" + c if c in _REGEX_META else c for c in value)


def format_duration(seconds: float) -> str:
    """A PromQL duration for ``seconds``: whole seconds as ``37s``, otherwise milliseconds (``37500ms``).

    At least ``1ms``: a range selector must not be empty.
    """
    millis = max(1, round(seconds * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def format_timestamp(seconds: float) -> str:
    """A Unix time as PromQL and the HTTP API read it (millisecond precision)."""
    return f"{seconds:.3f}"


# --------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class _Place:
    """Where a variable stands: in which kind of string (``""`` when outside) and after which operator."""

    quote: str
    regex: bool
    comment: bool = False


def _places(template: str) -> list[tuple[re.Match[str], _Place]]:
    """Every ``{{variable}}`` in ``template`` with the lexical place it stands in."""
    found: list[tuple[re.Match[str], _Place]] = []
    quote = ""
    regex = False
    comment = False
    i = 0
    while i < len(template):
        match = _VARIABLE.match(template, i)
        if match is not None:
            found.append((match, _Place(quote, regex, comment)))
            i = match.end()
            continue
        char = template[i]
        if comment:
            comment = char != "\n"
        elif quote:
            if char == "\\" and quote != "`":
                i += 1  # skip the escaped character
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
            regex = template[:i].rstrip().endswith(("=~", "!~"))
        elif char == "#":
            comment = True
        i += 1
    if quote:
        raise QueryTemplateError(f"the query has an unterminated {quote} string: {abbreviate(template)}")
    return found


def _placed(value: str, place: _Place, name: str) -> str:
    if place.comment:
        return escape_string(value)
    if place.quote == "`":
        if "`" in value:
            raise QueryTemplateError(f"{{{{{name}}}}} stands in a `raw string` and its value {value!r} has a backtick")
        return escape_regex(value) if place.regex else value
    if place.quote:
        return escape_string(escape_regex(value) if place.regex else value, place.quote)
    if not _BARE_VALUE.fullmatch(value):
        raise QueryTemplateError(
            f"{{{{{name}}}}} stands outside a quoted string and its value {value!r} is not a plain name; "
            f'quote it in the template (label="{{{{{name}}}}}")'
        )
    return value


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with every ``{{variable}}`` replaced by its value, escaped for its place."""
    pieces: list[str] = []
    last = 0
    for match, place in _places(template):
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values))
            raise QueryTemplateError(f"the query uses {{{{{name}}}}}, which meshroll does not fill in (known: {known})")
        pieces.append(template[last : match.start()])
        pieces.append(_placed(values[name], place, name))
        last = match.end()
    pieces.append(template[last:])
    return "".join(pieces)


def arm_values(
    *,
    service: str,
    namespace: str,
    version: str,
    backend: str | None = None,
    stable: str,
    canary: str,
    start: float,
    end: float,
    resolution: float,
    reporter: str = "destination",
) -> dict[str, str]:
    """The template variables for one arm over the span ``[start, end]``.

    ``version`` is this arm's version (``stable``/``canary`` name both arms); ``backend`` is the Service this
    arm's requests are sent to (Gateway API and SMI route to a Service per version; None: ``service``, as
    Istio subsets and the embedded mesh do); ``window`` is the span as a
    PromQL duration; ``start``/``end`` are Unix times (for ``@`` modifiers); ``step`` is the resolution
    of a gauge's range query.
    """
    return {
        "service": service,
        "backend": backend or service,
        "namespace": namespace,
        "version": version,
        "stable": stable,
        "canary": canary,
        "window": format_duration(end - start),
        "start": format_timestamp(start),
        "end": format_timestamp(end),
        "step": format_duration(resolution),
        "reporter": reporter,
    }


def range_resolution(duration: float, *, points: int = 60, floor: float = 1.0) -> float:
    """The resolution of a gauge's range query: about ``points`` samples over the span, never finer than ``floor``."""
    return max(floor, round(duration / points, 3))


def abbreviate(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Reading results (the ``data.result`` part of Prometheus's JSON answer)


class ResultShapeError(ValueError):
    """A result does not have the shape the query's role needs (a matrix where a vector was expected...)."""


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ResultShapeError(f"{text!r} is not a sample value") from None


def _sample(pair: Any) -> tuple[float, float]:
    """``(time, value)`` from a ``[time, "value"]`` pair as the HTTP API writes samples."""
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise ResultShapeError(f"{abbreviate(repr(pair), 60)} is not a [time, value] sample")
    return _number(pair[0]), _number(pair[1])


def _labels(element: Mapping[str, Any]) -> Mapping[str, str]:
    labels = element.get("metric") or {}
    if not isinstance(labels, dict):
        raise ResultShapeError(f"{abbreviate(repr(labels), 60)} is not a series' label set")
    return labels


def _is_scalar(result: Any) -> bool:
    return isinstance(result, list) and len(result) == 2 and isinstance(result[0], int | float)


def instant_values(result: Any) -> list[tuple[Mapping[str, str], float]]:
    """``(labels, value)`` per element of an instant vector (a scalar counts as one unlabelled element)."""
    if _is_scalar(result):
        return [({}, _number(result[1]))]
    if not isinstance(result, list):
        raise ResultShapeError(f"expected an instant vector, got {type(result).__name__}")
    out: list[tuple[Mapping[str, str], float]] = []
    for element in result:
        if not isinstance(element, dict) or "value" not in element:
            raise ResultShapeError("expected an instant vector; the query returned a range vector (matrix)")
        out.append((_labels(element), _sample(element["value"])[1]))
    return out


def vector_total(result: Any) -> float | None:
    """The sum over an instant vector's elements; ``None`` for an empty vector (no data).

    A NaN anywhere makes the total NaN, which callers treat as no data too.
    """
    values = instant_values(result)
    if not values:
        return None
    return math.fsum(v for _, v in values) if not any(math.isnan(v) for _, v in values) else math.nan


def parse_le(text: str) -> float:
    """A bucket bound as written in the ``le`` label: ``"1.0"``, ``"1"``, ``"+Inf"``, ``"1e+06"``."""
    try:
        bound = float(text)
    except (TypeError, ValueError):
        bound = math.nan
    if math.isnan(bound):  # float() reads "NaN" too, which bounds nothing: no request is below it
        raise ResultShapeError(f"le={text!r} is not a bucket bound (a number or +Inf)") from None
    return bound


def cumulative_buckets(result: Any) -> tuple[tuple[float, float], ...]:
    """Sorted ``(le, count)`` pairs from a vector grouped by ``le``; bounds written differently
    ("1" and "1.0") are merged. Counts are passed through as Prometheus computed them: a
    non-monotone result stays non-monotone (the engines hold on it and say so). Empty: no data."""
    merged: dict[float, float] = {}
    for labels, value in instant_values(result):
        if "le" not in labels:
            raise ResultShapeError("a bucket query must keep the le label: group it with sum by (le) (...)")
        le = parse_le(labels["le"])
        merged[le] = merged.get(le, 0.0) + value
    return tuple(sorted(merged.items()))


def matrix_values(result: Any) -> tuple[float, ...]:
    """Every sample value of a range query, in time order (series pooled); NaN samples are dropped."""
    if not isinstance(result, list):
        raise ResultShapeError(f"expected a range vector, got {type(result).__name__}")
    samples: list[tuple[float, float]] = []
    for element in result:
        if not isinstance(element, dict) or "values" not in element:
            raise ResultShapeError("expected a range vector (matrix) from a range query")
        values = element["values"]
        if not isinstance(values, list):
            raise ResultShapeError(f"{abbreviate(repr(values), 60)} is not a list of samples")
        samples.extend(_sample(pair) for pair in values)
    samples.sort(key=lambda s: s[0])
    return tuple(v for _, v in samples if not math.isnan(v))


def requests_from_buckets(buckets: Sequence[tuple[float, float]]) -> float:
    """The request count a histogram implies: its ``+Inf`` bucket, else its largest count."""
    if not buckets:
        return 0.0
    if math.isinf(buckets[-1][0]):
        return buckets[-1][1]
    return max(count for _, count in buckets)


def any_nan(values: Iterable[float]) -> bool:
    return any(math.isnan(v) for v in values)
