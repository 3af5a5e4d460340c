"""The pure PromQL helpers: safe rendering, durations, result shapes (no server needed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis import promql
from analysis.templates import BUILTIN_TEMPLATES, TEMPLATE_VARIABLES

VALUES = promql.arm_values(
    service="checkout",
    namespace="shop",
    version="v2",
    stable="v1",
    canary="v2",
    start=1000.0,
    end=1037.0,
    resolution=1.0,
)


def test_the_provided_variables_are_exactly_the_ones_templates_may_use() -> None:
    assert set(VALUES) == promql.PROVIDED_VARIABLES == TEMPLATE_VARIABLES


def test_window_is_the_step_as_a_promql_duration() -> None:
    assert VALUES["window"] == "37s"
    assert VALUES["end"] == "1037.000" and VALUES["start"] == "1000.000" and VALUES["step"] == "1s"
    assert promql.format_duration(37.5) == "37500ms"
    assert promql.format_duration(0.0) == "1ms"
    assert promql.range_resolution(600.0) == 10.0 and promql.range_resolution(8.0) == 1.0


def test_the_builtin_istio_error_query_renders_as_expected() -> None:
    query = promql.render(BUILTIN_TEMPLATES["istio-error-rate"].queries["errors"], VALUES)
    series = (
        'istio_requests_total{reporter="destination",destination_service_name=~"checkout|checkout",'
        'destination_workload_namespace="shop",destination_version="v2",response_code=~"5.."}'
    )
    born = f"({series} unless last_over_time({series}[1h] offset 37s))"
    assert query == f"sum((increase({series}[37s]) unless {born}) or {born})"


def test_the_builtin_istio_queries_select_an_arm_by_its_own_service_too() -> None:
    """Gateway API and SMI send each version to a Service of its own ({{backend}}); Istio subsets, the target's."""
    query = promql.render(BUILTIN_TEMPLATES["istio-error-rate"].queries["requests"], dict(VALUES, backend="co-v2"))
    assert 'destination_service_name=~"checkout|co-v2"' in query


def test_a_hostile_value_stays_inside_its_string() -> None:
    hostile = dict(VALUES, service='checkout"} or vector(1) #\nx')
    query = promql.render('sum(x{service="{{service}}"})', hostile)
    assert query == 'sum(x{service="checkout\\"} or vector(1) #\\nx"})'


def test_values_in_regex_matchers_are_regex_escaped_then_string_escaped() -> None:
    values = dict(VALUES, stable="v1.*", canary="a|b\\")
    query = promql.render('x{v=~"{{stable}}|{{canary}}", w!~ "{{stable}}", u="{{stable}}", r=~`{{stable}}`}', values)
    assert query == 'x{v=~"v1\\\\.\\\\*|a\\\\|b\\\\\\\\", w!~ "v1\\\\.\\\\*", u="v1.*", r=~`v1\\.\\*`}'


def test_single_quoted_strings_escape_single_quotes() -> None:
    assert promql.render("x{a='{{service}}'}", dict(VALUES, service="it's")) == "x{a='it\\'s'}"


def test_unsafe_placements_are_refused() -> None:
    with pytest.raises(promql.QueryTemplateError, match="outside a quoted string"):
        promql.render("{{service}}_total", dict(VALUES, service="x or vector(1)"))
    with pytest.raises(promql.QueryTemplateError, match="backtick"):
        promql.render("x{a=`{{service}}`}", dict(VALUES, service="a`b"))
    with pytest.raises(promql.QueryTemplateError, match="does not fill in"):
        promql.render('x{a="{{le}}"}', VALUES)
    with pytest.raises(promql.QueryTemplateError, match="unterminated"):
        promql.render('x{a="{{service}}}', VALUES)
    assert promql.render("{{service}}_total", VALUES) == "checkout_total"


def test_a_value_in_a_comment_cannot_end_the_comment() -> None:
    assert promql.render("x # {{service}}\n+ 1", dict(VALUES, service="a\nvector(1)")) == "x # a\\nvector(1)\n+ 1"


@given(st.text(max_size=40))
def test_any_value_renders_to_one_string_literal_that_decodes_back(value: str) -> None:
    query = promql.render('x{a="{{service}}"}', dict(VALUES, service=value))
    assert query.startswith('x{a="') and query.endswith('"}')
    body = query[len('x{a="') : -2]
    # the only unescaped quote is the closing one
    i = 0
    while i < len(body):
        assert body[i] not in '"\n', query
        i += 2 if body[i] == "\\" else 1
    assert _go_unquote(body) == value


def _go_unquote(body: str) -> str:
    """Decode the escapes escape_string writes (a subset of Go's)."""
    out, i = [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(body):
        if body[i] != "\\":
            out.append(body[i])
            i += 1
        elif body[i + 1] == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        else:
            out.append(simple[body[i + 1]])
            i += 2
    return "".join(out)


def test_vector_totals_empty_is_none_and_nan_stays_nan() -> None:
    assert promql.vector_total([]) is None
    assert promql.vector_total([{"metric": {}, "value": [1, "3"]}, {"metric": {}, "value": [1, "4.5"]}]) == 7.5
    assert math.isnan(promql.vector_total([{"metric": {}, "value": [1, "NaN"]}]) or 0.0)
    assert promql.vector_total([1.0, "2"]) == 2.0  # a scalar result


def test_buckets_parse_le_strings_merge_spellings_and_sort() -> None:
    result = [
        {"metric": {"le": "+Inf"}, "value": [1, "10"]},
        {"metric": {"le": "1.0"}, "value": [1, "2"]},
        {"metric": {"le": "1"}, "value": [1, "1"]},
        {"metric": {"le": "1e+06"}, "value": [1, "9"]},
    ]
    assert promql.cumulative_buckets(result) == ((1.0, 3.0), (1e6, 9.0), (math.inf, 10.0))
    assert promql.requests_from_buckets(promql.cumulative_buckets(result)) == 10.0
    with pytest.raises(promql.ResultShapeError, match="sum by \\(le\\)"):
        promql.cumulative_buckets([{"metric": {}, "value": [1, "1"]}])


def test_non_monotone_buckets_are_passed_through() -> None:
    result = [{"metric": {"le": "1"}, "value": [1, "5"]}, {"metric": {"le": "+Inf"}, "value": [1, "4"]}]
    assert promql.cumulative_buckets(result) == ((1.0, 5.0), (math.inf, 4.0))


def test_matrix_values_pool_series_in_time_order_and_drop_nan() -> None:
    result = [
        {"metric": {"pod": "a"}, "values": [[1, "1"], [3, "3"]]},
        {"metric": {"pod": "b"}, "values": [[2, "2"], [4, "NaN"]]},
    ]
    assert promql.matrix_values(result) == (1.0, 2.0, 3.0)
    with pytest.raises(promql.ResultShapeError):
        promql.instant_values(result)
