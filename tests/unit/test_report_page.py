"""The HTML report: every text from a status is escaped, odd numbers never crash it, and a point's
tooltip says what was recorded (no interval is not an interval of [0, 0])."""

from __future__ import annotations

import math
import re

import pytest

from analysis import report
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
    assert f"<title>t=10s {text}: estimate 1.1 CS [0.9, 1.4], {text}</title>" in page


def test_hostile_text_everywhere_is_escaped_and_the_page_stays_script_free() -> None:
    page = _page([_point(outcome=HOSTILE, evidence=HOSTILE)], name=HOSTILE, text=HOSTILE)
    assert "<script" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert page.count("</style>") == 1 and "&lt;script&gt;" in page
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "dl", "dt", "dd", "ol", "li", "b"}
    allowed |= {"svg", "rect", "line", "text", "polyline", "circle", "table", "thead", "tbody", "tr", "th", "td"}
    assert set(re.findall(r"<(\w+)", page)) <= allowed


def test_a_point_without_an_interval_says_so_instead_of_showing_zero_to_zero() -> None:
    page = _page([_point(low=None, high=None)])
    assert "estimate 1.1 no CS, e=0.5</title>" in page and "[0, 0]" not in page


def test_nan_and_infinite_numbers_are_left_out_of_the_plot_and_written_in_the_table() -> None:
    points = [
        _point(0.0, estimate=math.nan, low=math.nan, high=math.inf, stable_n=math.nan, canary_value=math.inf),
        _point(10.0, low=1.0, high=math.inf),
        _point(20.0, estimate=None, low=None, high=None, stable_value=None, canary_value=None),
    ]
    page = _page(points)
    assert not re.search(r'="-?(nan|inf)', page)  # no coordinate is NaN or infinite
    assert "<td>[1, ∞]</td>" in page and "<td>nan / 1000</td>" in page


def test_an_interval_unbounded_above_is_drawn_to_the_top_of_the_plot_and_written_as_infinity() -> None:
    page = _page([_point(estimate=0.0, low=0.0, high=math.inf)])
    bars = re.findall(r'<line x1="[^"]*" x2="[^"]*" y1="([^"]*)" y2="([^"]*)" stroke="[^"]*" stroke-width="3"', page)
    assert len(bars) == 1 and float(bars[0][1]) == 14.0  # from 0 up to the plot's top edge
    assert "<td>0</td><td>[0, ∞]</td>" in page and "estimate 0 CS [0, ∞]" in page


def test_no_steps_one_step_and_thousands_of_steps_render() -> None:
    assert "No estimates were recorded" in _page([_point(estimate=None, low=None, high=None)])
    assert "<circle" in _page([_point()])
    whole = _page([_point(60.0 * i) for i in range(report.MAX_DRAWN)])
    assert whole.count("<circle") == report.MAX_DRAWN and "Drawn:" not in whole, "a shorter run is drawn whole"
    many = _page([_point(60.0 * i) for i in range(5000)])
    assert many.count("<circle") < report.W and "Drawn: " in many
    empty = render_html(ReportData("t", "Pending", "", weights=[]))
    assert "<h2>Traffic</h2><svg" in empty


def _long_run(judgements: int = 20_000, metrics: int = 5) -> ReportData:
    """Two weeks judged every minute on five metrics with wandering numbers: four step advances, then
    a rollback on the last judgement."""
    advances = [judgements * k // 5 - 1 for k in range(1, 5)]

    def point(i: int, m: int) -> MetricPoint:
        estimate = 1.0 + 0.2 * math.sin(i * 0.37 + m) + 0.05 * math.cos(i * 1.91)
        width = 0.1 + 0.05 * math.sin(i * 0.11)
        outcome = "advance" if i in advances else "rollback" if i == judgements - 1 else "hold"
        return _point(60.0 * (i + 1), outcome=outcome, estimate=estimate, low=estimate - width, high=estimate + width,
                      evidence=f"e={i}")  # fmt: skip

    markers = [Marker(60.0 * (i + 1), f"canary weight {10 * k}%: step {k} proven", "advance") for k, i in
               enumerate(advances, start=1)]  # fmt: skip
    markers.append(Marker(60.0 * judgements, "RolledBack: latency regressed beyond the 20% margin", "rollback"))
    return ReportData(
        title="checkout-v2",
        phase="RolledBack",
        headline="latency regressed beyond the 20% margin",
        weights=[(60.0 * (i + 1), 10 * k) for k, i in enumerate([-1, *advances])],
        metrics={f"metric-{m}": [point(i, m) for i in range(judgements)] for m in range(metrics)},
        markers=markers,
    )


def test_a_long_run_page_stays_a_few_megabytes_with_every_decision_and_the_final_reason() -> None:
    data = _long_run()
    page = render_html(data)
    assert len(page.encode()) < 4_000_000, len(page.encode())  # drawn whole, it was 37 MB
    assert "<p class='headline'>latency regressed beyond the 20% margin</p>" in page
    plots = 1 + len(data.metrics)
    for marker in data.markers:
        assert page.count(f"<title>{marker.label}</title></line>") == plots, "each marker once in every plot"
        assert f"<li><b>{marker.time:.0f}s</b> {marker.label}</li>" in page
        decided = f"<title>t={marker.time:.0f}s {'rollback' if marker.kind == 'rollback' else 'advance'}: "
        assert page.count(decided) == len(data.metrics), "the judgement behind each decision, in every metric's plot"
        assert page.count(f"<td>{marker.time:.0f}s</td>") == len(data.metrics), "and in every metric's table"
    assert page.count("<title>t=60s hold: ") == len(data.metrics), "the first judgement"
    assert page.count("Drawn: ") == len(data.metrics) and "of 20,000 judgements" in page
    assert "judgements from " in page and " not listed (" in page, "the table says what it leaves out"


def _extent(svg: str) -> dict[int, tuple[float, float]]:
    """The lowest and highest y drawn (estimates and intervals) in each pixel column of a plot."""
    ys: dict[int, list[float]] = {}
    for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg):
        ys.setdefault(round(float(x)), []).append(float(y))
    interval = r'<line x1="([\d.]+)" x2="[\d.]+" y1="([\d.]+)" y2="([\d.]+)" [^>]*stroke-width="3"'
    for x, y1, y2 in re.findall(interval, svg):
        ys.setdefault(round(float(x)), []).extend((float(y1), float(y2)))
    return {x: (min(v), max(v)) for x, v in ys.items()}


def test_a_thinned_plot_reaches_as_low_and_as_high_in_every_pixel_column_as_all_its_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _long_run(judgements=5000, metrics=1)
    thinned = re.findall(r"<svg.*?</svg>", render_html(data))[1]
    monkeypatch.setattr(report, "MAX_DRAWN", 10**9)
    whole = re.findall(r"<svg.*?</svg>", render_html(data))[1]
    assert thinned.count("<circle") < whole.count("<circle") / 2
    full, kept = _extent(whole), _extent(thinned)
    for x, (low, high) in full.items():
        near = [kept[k] for k in (x - 1, x, x + 1) if k in kept]  # a point can round into the next column
        assert min(n[0] for n in near) <= low + 0.1 and max(n[1] for n in near) >= high - 0.1, x


def test_an_early_steps_wide_interval_runs_off_the_plot_instead_of_squashing_the_estimates() -> None:
    first = _point(time=10.0, estimate=1.2, low=-10.8, high=119.0)
    later = [_point(time=t, estimate=e, low=e - 0.2, high=e + 0.2) for t, e in ((20.0, 1.0), (30.0, 1.3))]
    page = _page([first, *later])

    heights = [float(y) for y in re.findall(r'<circle cx="[^"]*" cy="([^"]*)"', page)]
    assert abs(heights[1] - heights[2]) > 0.15 * (220 - 28 - 14), "1.0 and 1.3 are far apart on the plot"
    bars = re.findall(r'<line x1="[^"]*" x2="[^"]*" y1="([^"]*)" y2="([^"]*)" stroke="[^"]*" stroke-width="3"', page)
    assert (float(bars[0][0]), float(bars[0][1])) == (220 - 28, 14.0), "the wide interval runs to both edges"
    assert "[-10.8, 119]" in page, "its tooltip and table still give its ends"


def _ticks(page: str) -> list[str]:
    """The value axis labels of the metric's plot (the second svg)."""
    svg = page.split("<svg")[2]
    return re.findall(r'<text x="40" y="[\d.]+" text-anchor="end" font-size="10">([^<]*)</text>', svg)


def test_a_cut_interval_is_marked_where_the_plot_cuts_it_and_a_ratio_axis_has_no_negative_values() -> None:
    # The healthy demo's first error-rate judgements: [0, 31.2], [0, 6.3] and [0, 3.91] around estimates near 1.
    points = [
        _point(8.0, estimate=0.9, low=0.0, high=31.2),
        _point(16.0, estimate=1.0, low=0.0, high=6.3),
        _point(24.0, estimate=1.05, low=0.631, high=1.38, margin_at=(1.5,)),
    ]
    page = _page(points)
    assert not any(tick.startswith("-") for tick in _ticks(page)), _ticks(page)
    cut = re.findall(r"<polyline points=[^>]*><title>(t=\d+s: the CS [^<]*)</title></polyline>", page)
    assert cut == [
        "t=8s: the CS [0, 31.2] goes on beyond the plot",
        "t=16s: the CS [0, 6.3] goes on beyond the plot",
    ], "an arrow at each end the plot cuts, none where the whole CS is drawn"
    assert "<title>the margin: 1.5</title>" in page


def test_both_ends_cut_get_an_arrow_each_and_differences_may_go_negative() -> None:
    points = [_point(t, estimate=1.0 + 0.01 * t, low=1.0 - 5 * t, high=1.0 + 5 * t) for t in (10.0, 20.0)]
    page = _page([*points, _point(30.0, estimate=1.1, low=1.05, high=1.15)])
    assert len(re.findall(r"<title>t=20s: the CS \[-99, 101\] goes on beyond the plot</title>", page)) == 2
    gauge = _page([_point(10.0, estimate=-2.0, low=-3.0, high=-1.0), _point(20.0, estimate=3.0, low=2.0, high=4.0)])
    assert any(tick.startswith("-") for tick in _ticks(gauge)), "a difference below 0 is on the axis"
