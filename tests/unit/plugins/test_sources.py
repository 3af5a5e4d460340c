"""Metric-source plugins: found by entry point, named in ``analysis.source``, and contained. Whatever a
plugin does, a run reads it as a source that failed (the weights hold, the failure budget is spent),
never as a verdict on the canary."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from analysis.metric_sources import (
    SOURCE_NAMES,
    ContainedSource,
    UnknownSourceError,
    plugin_source,
    plugin_source_or_unavailable,
)
from analysis.observations import ArmSample, MetricKind, MetricPair
from analysis.plugins import SOURCES as SOURCE_KIND
from analysis.plugins import PluginError, installed, load_object
from analysis.sequential import SequentialJudge
from rollout.errors import RolloutError
from rollout.kube.run_factory import RunFactory
from rollout.runner import _plugin_source
from rollout.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan
from rollout.spec import SpecError, load_experiment_text
from rollout.status import Phase
from tests.unit.orchestrator.doubles import RecordingProvider, drive

from .helpers import SOURCES, experiment, install, install_web
from .test_cli import meshroll

SPAN = StepSpan(1_000.0, 1_060.0, "v1", "v2", "checkout", "demo")
ERRORS = [MetricQuery("errors", "istio-error-rate", MetricKind.ERRORS)]
FAULTY = """
from analysis.observations import ArmSample, MetricPair
from analysis.sources import MetricsUnavailableError

GOOD = MetricPair(ArmSample(9000.0, 9.0), ArmSample(1000.0, 1.0))

class Answers:
    def __init__(self, answer):
        self.answer = answer
    def collect(self, span, metrics):
        return self.answer

class Raises:
    def collect(self, span, metrics):
        raise ZeroDivisionError("float division by zero")

class Down:
    def collect(self, span, metrics):
        raise MetricsUnavailableError("api.example.com answered 503")

class Exits:
    def collect(self, span, metrics):
        raise SystemExit(2)

class Sleeps:
    def collect(self, span, metrics):
        import time
        time.sleep(1.0)
        return {}

class Odd(Exception):
    def __str__(self):
        return self.response.reason  # an exception that cannot say itself

class OddRaise:
    def collect(self, span, metrics):
        raise Odd()

class Mutates:
    def collect(self, span, metrics):
        metrics[0].queries["requests"] = "changed"
        return {}

class SlowToMake:
    def __init__(self):
        import time
        time.sleep(1.0)
    def collect(self, span, metrics):
        return {}

MADE = []

def good():
    MADE.append("good")
    return Answers({"errors": GOOD})
def huge(): return Answers({"errors": MetricPair(ArmSample(10**400, 0), ArmSample(1000.0, 1.0))})
def text(): return Answers("lots")
def other_metric(): return Answers({"latency": GOOD})
def words(): return Answers({"errors": MetricPair(ArmSample("9000", 9.0), ArmSample(1000.0, 1.0))})
def no_pair(): return Answers({"errors": (9000, 9)})
"""


@pytest.fixture
def faulty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["good", "text", "other_metric", "words", "no_pair", "huge", "Raises", "Down", "Exits", "Sleeps"]
    names += ["OddRaise", "Mutates", "SlowToMake"]
    entries = {name.lower().replace("_", "-"): f"faulty_sources:{name}" for name in names}
    monkeypatch.syspath_prepend(str(install(tmp_path, "faulty-sources", entries, {"faulty_sources": FAULTY}, SOURCES)))


@pytest.mark.usefixtures("faulty")
def test_a_good_plugin_answers_through_its_container() -> None:
    source = plugin_source("good")
    assert isinstance(source, ContainedSource)
    assert source.collect(SPAN, ERRORS) == {"errors": MetricPair(ArmSample(9000.0, 9.0), ArmSample(1000.0, 1.0))}


@pytest.mark.usefixtures("faulty")
@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("raises", "raised ZeroDivisionError: float division by zero"),
        ("down", "cannot read: api.example.com answered 503"),
        ("exits", "raised SystemExit: 2"),
        ("text", "returned an object of type str instead of a dict of MetricPair"),
        ("other-metric", "returned data for 'latency', which is no metric asked for"),
        ("words", "returned data for 'errors' that is not a MetricPair of two ArmSamples of numbers"),
        ("no-pair", "returned data for 'errors' that is not a MetricPair of two ArmSamples of numbers"),
        ("huge", "returned data for 'errors' that is not a MetricPair of two ArmSamples of numbers"),
        ("oddraise", "raised Odd"),
    ],
)
def test_whatever_a_plugin_does_wrong_is_a_source_failure_naming_it(name: str, said: str) -> None:
    with pytest.raises(MetricsUnavailableError) as caught:
        plugin_source(name).collect(SPAN, ERRORS)
    assert str(caught.value) == f"metric source plugin {name!r} {said}; fix its backend or the plugin"


@pytest.mark.usefixtures("faulty")
def test_a_plugin_that_hangs_fails_the_step_and_is_not_called_again_while_it_hangs() -> None:
    source = plugin_source("sleeps")
    assert isinstance(source, ContainedSource)
    source.seconds = 0.2
    with pytest.raises(MetricsUnavailableError, match=r"'sleeps' did not answer within 0\.2s"):
        source.collect(SPAN, ERRORS)
    with pytest.raises(MetricsUnavailableError, match="'sleeps' is still reading an earlier step after more than"):
        source.collect(SPAN, ERRORS)


@pytest.mark.usefixtures("faulty")
def test_a_run_whose_source_plugin_fails_holds_its_weights_and_spends_the_failure_budget() -> None:
    run, provider = drive(
        load_experiment_text(experiment("sequential", "raises")), _plugin("raises"), SequentialJudge(), 6
    )
    held = [e for e in run.status.history if e.event.type == "metrics-unavailable"]
    assert len(held) == 6 and all("metric source plugin 'raises' raised ZeroDivisionError" in e.reason for e in held)
    assert all("this says nothing about the canary" in e.reason for e in held)
    assert [plan.canary_weight for plan in provider.plans] == [10], "the weights never moved"
    assert run.status.phase is Phase.PAUSED and "failure budget of 5 is spent" in run.status.reason


def test_an_unknown_source_is_refused_where_it_is_named_with_the_names_there_are() -> None:
    with pytest.raises(SpecError) as caught:
        load_experiment_text(experiment("sequential", "datadog"), "shop.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "shop.yaml:10:5 spec.analysis.source: unknown metric source 'datadog': use one of prometheus, or install the "
        "package of the plugin that provides it (entry-point group meshroll.sources)"
    ]
    with pytest.raises(SpecError, match="'Data Dog' is not a metric source name; use prometheus or an installed"):
        load_experiment_text(experiment("sequential", "'Data Dog'"))
    assert load_experiment_text(experiment("sequential", "prometheus")).spec.analysis is not None


def test_a_run_under_way_whose_plugin_this_controller_lacks_reads_a_source_that_says_so() -> None:
    """New runs of it are refused at the reconcile (the spec check above); one under way holds and can be aborted."""
    factory = RunFactory(None, None, None, identity="t", source_factory=lambda: pytest.fail(), provider_factory=None,
                         state_dir=None)  # type: ignore[arg-type]  # fmt: skip
    source = factory._source(load_experiment_text(experiment("sequential", "gone"), engines_here=False))
    with pytest.raises(MetricsUnavailableError) as caught:
        source.collect(SPAN, ERRORS)
    assert str(caught.value).startswith("the metric source 'gone' is not available in this controller (unknown")
    with pytest.raises(UnknownSourceError):
        plugin_source("gone")
    assert type(plugin_source_or_unavailable("gone")).__name__ == "UnavailableSource"


def test_sources_lists_prometheus_and_the_plugins_and_validate_takes_an_installed_one(tmp_path: Path) -> None:
    site = install_web(tmp_path / "site")
    listed = meshroll(site, "sources")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "prometheus: built-in",
        "web: plugin, entry point meshroll_web:WebSource of meshroll-web 0.1",
    ]
    path = tmp_path / "shop.yaml"
    path.write_text(experiment("sequential", "web"))
    accepted = meshroll(site, "validate", str(path))
    assert accepted.returncode == 0 and accepted.stdout.split() == [f"{path}:", "ok", "(demo/shop)"]


def _plugin(name: str) -> Callable[[RecordingProvider], MetricSource]:
    def make(_provider: RecordingProvider) -> MetricSource:
        return plugin_source(name)

    return make


@pytest.mark.usefixtures("faulty")
def test_a_local_run_reads_the_plugin_and_one_that_cannot_load_stops_it_before_the_mesh_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(_plugin_source(load_experiment_text(experiment("sequential", "good"))), ContainedSource)
    assert _plugin_source(load_experiment_text(experiment("sequential", "prometheus"))) is None
    site = install(tmp_path / "broken", "broken-source", {"broken": "no_such_module:Source"}, group=SOURCES)
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(RolloutError, match=r"source: metric source plugin 'broken' .* cannot be loaded"):
        _plugin_source(load_experiment_text(experiment("sequential", "broken"), engines_here=False))


@pytest.mark.parametrize("command", ["run", "analyze"])
def test_prometheus_beside_a_source_plugin_is_one_line_and_starts_nothing(command: str, tmp_path: Path) -> None:
    site = install_web(tmp_path / "site")
    path = tmp_path / "shop.yaml"
    path.write_text(experiment("sequential", "web"))
    extra = ["--from", "-1h"] if command == "analyze" else ["--metrics-port", "9464"]
    result = meshroll(site, command, str(path), "--prometheus", "http://127.0.0.1:9", *extra)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "meshroll: --prometheus: the experiment reads its metrics from the metric source 'web' "
        "(spec.analysis.source), not Prometheus; drop --prometheus, or the source\n"
    )


@pytest.mark.usefixtures("faulty")
def test_checking_specs_makes_a_plugin_once_and_each_run_makes_its_own() -> None:
    """Specs are checked at every reconcile and for every Experiment waiting for a slot: no factory call each."""
    plugin_source("good")
    made = sys.modules["faulty_sources"].MADE
    before = len(made)
    for _ in range(3):
        load_experiment_text(experiment("sequential", "good"))
    assert len(made) == before + 1
    plugin_source("good")
    assert len(made) == before + 2


@pytest.mark.usefixtures("faulty")
def test_a_plugin_gets_copies_of_the_metrics_so_it_cannot_change_what_later_steps_ask() -> None:
    custom = [MetricQuery("errors", "mine", MetricKind.ERRORS, {"requests": "sum(rate(x[1m]))"})]
    assert plugin_source("mutates").collect(SPAN, custom) == {}
    assert custom[0].queries == {"requests": "sum(rate(x[1m]))"}


@pytest.mark.usefixtures("faulty")
def test_a_plugin_slow_to_make_is_one_line_and_not_waited_on_again_while_it_hangs() -> None:
    plugin = installed(SOURCE_NAMES, SOURCE_KIND).usable["slowtomake"]
    with pytest.raises(PluginError, match=r"its class or factory did not return within 0\.2s; its module or its fac"):
        load_object(plugin, SOURCE_KIND, seconds=0.2)
    with pytest.raises(PluginError, match=r"is still loading after more than 0\.2s"):
        load_object(plugin, SOURCE_KIND, seconds=0.2)
