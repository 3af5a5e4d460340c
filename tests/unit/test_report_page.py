"""The HTML report: every text from a status is escaped, odd numbers never crash it, and a point's
tooltip says what was recorded (no interval is not an interval of [0, 0])."""

from __future__ import annotations

import math
import re

import pytest

from analysis.report import Marker, MetricPoint, ReportData, render_html

HOSTILE = '"><img src=x onerror=alert(1)></style><script>alert(2)</script>'


def _point(time: float = 10.0, **changes: object) -> MetricPoint:
    values: dict[str, object] = {
        "time": time,
        "outcome": "hold",
        "estimate": 1.1,
        "low": 0.9,
        "high": 1.4,
        "stable_value": 0.01,
        "canary_value": 0.011,
        "stable_n": 1000.0,
        "canary_n": 1000.0,
        "evidence": "e=0.5",
    }
    values.update(changes)
    return MetricPoint(**values)  # type: ignore[arg-type]


def _page(points: list[MetricPoint], name: str = "error-rate", text: str = "x") -> str:
    data = ReportData(
        title=text,
        phase=text,
        headline=text,
        weights=[(0.0, 0), (10.0, 10)],
        metrics={name: points},
        markers=[Marker(10.0, text, text)],
        facts=[(text, text)],
    )
    return render_html(data)


@pytest.mark.parametrize("text", ["{0}", "{fx}", "{fx:.1f} {}", "}{"])
def test_a_verdict_or_evidence_that_looks_like_a_format_field_is_shown_as_written(text: str) -> None:
    # A status read from a file or from kubectl carries these strings as they were stored.
    page = _page([_point(outcome=text, evidence=text)])
    assert f"<title>t=10s {text}: estimate 1.1 [0.9, 1.4], {text}</title>" in page


def test_hostile_text_everywhere_is_escaped_and_the_page_stays_script_free() -> None:
    page = _page([_point(outcome=HOSTILE, evidence=HOSTILE)], name=HOSTILE, text=HOSTILE)
    assert "<script" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert page.count("</style>") == 1 and "&lt;script&gt;" in page
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "dl", "dt", "dd", "ol", "li", "b"}
    allowed |= {"svg", "rect", "line", "text", "polyline", "circle", "table", "thead", "tbody", "tr", "th", "td"}
    assert set(re.findall(r"<(\w+)", page)) <= allowed


def test_a_point_without_an_interval_says_so_instead_of_showing_zero_to_zero() -> None:
    page = _page([_point(low=None, high=None)])
    assert "estimate 1.1 no interval, e=0.5</title>" in page and "[0, 0]" not in page


def test_nan_and_infinite_numbers_are_left_out_of_the_plot_and_written_in_the_table() -> None:
    points = [
        _point(0.0, estimate=math.nan, low=math.nan, high=math.inf, stable_n=math.nan, canary_value=math.inf),
        _point(10.0, low=1.0, high=math.inf),
        _point(20.0, estimate=None, low=None, high=None, stable_value=None, canary_value=None),
    ]
    page = _page(points)
    assert not re.search(r'="-?(nan|inf)', page)  # no coordinate is NaN or infinite
    assert "<td>[1, inf]</td>" in page and "<td>nan / 1000</td>" in page


def test_no_steps_one_step_and_thousands_of_steps_render() -> None:
    assert "No estimates were recorded" in _page([_point(estimate=None, low=None, high=None)])
    assert "<circle" in _page([_point()])
    many = [_point(60.0 * i) for i in range(5000)]
    assert _page(many).count("<circle") == 5000
    empty = render_html(ReportData("t", "Pending", "", weights=[]))
    assert "<h2>Traffic</h2><svg" in empty
