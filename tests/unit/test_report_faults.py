"""The report of a run with chaos shows when each fault was on, and a run still under way is not 'final'."""

from __future__ import annotations

from analysis.report import render_html
from rollout.events import Judged, Start
from rollout.plan import run_plan
from rollout.report import fault_spans, report_data
from rollout.spec.loader import load_experiment_text
from tests.unit.machine.conftest import (  # faults[0]: a delay at 10 and 25 %; faults[1]: aborts throughout
    CANARY,
    T0,
    run,
)

PLAN = run_plan(load_experiment_text(CANARY))


def advanced() -> Judged:
    return Judged(outcome="advance", engine="test", reason="no regression after a full step")


def test_each_fault_is_shown_with_the_span_it_was_on() -> None:
    status = run(PLAN, (0, Start()), (60, advanced()), (120, advanced()), (180, advanced()))
    spans = fault_spans(status, T0)
    assert ("chaos.faults[0]", 60.0, 180.0) in [(which, on, off) for on, off, which in spans]
    assert [(on, which) for on, _, which in spans if which == "chaos.faults[1]"] == [(0.0, "chaos.faults[1]")]
    page = render_html(report_data(status, "shop"))
    assert "<dt>faults injected</dt><dd>chaos.faults[1] 0s-180s, chaos.faults[0] 60s-180s</dd>" in page
    assert "shaded: faults injected" in page
    assert "<title>chaos.faults[0] on 60s-180s</title>" in page and "<title>chaos.faults[1] on 0s-180s</title>" in page


def test_a_run_under_way_shows_its_weights_now_not_final_weights() -> None:
    running = render_html(report_data(run(PLAN, (0, Start()), (60, advanced())), "shop"))
    assert "<dt>weights now</dt>" in running and "final weights" not in running


def test_the_share_the_canary_served_is_shown_where_it_is_not_the_weight() -> None:
    """Sticky users, a cohort, an A/B test: the weight line alone would say 10% where the canary served 33.5%."""
    served = [advanced().model_copy(update={"canary_share": share}) for share in (33.5, 74.1)]
    page = render_html(report_data(run(PLAN, (0, Start()), (60, served[0]), (120, served[1])), "shop"))
    assert "<dt>share of requests the canary served</dt><dd>33.5% at 60s, 74.1% at 120s</dd>" in page
    assert "dots: the share of requests it served" in page
    assert "<title>the canary served 33.5% of the requests judged at 60s</title>" in page
    plain = render_html(report_data(run(PLAN, (0, Start()), (60, advanced())), "shop"))
    assert "share of requests" not in plain and "<circle" not in plain.split("<h2>Traffic</h2>")[1].split("<h2>")[0]
