"""The generated CRD on a real API server: structural, every example accepted unpruned, printer columns
(in every state an Experiment can be in, read as the server-side Table kubectl prints), the status
subresource, and observedGeneration/conditions as the API conventions want them."""

from __future__ import annotations

import copy
import json
import re
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from analysis.observations import MetricPair
from analysis.sources import MetricQuery, StepSpan
from rollout.crd import GROUP, PLURAL, VERSION, experiment_crd
from rollout.events import Applied, MetricsUnavailable, Start
from rollout.kube.conditions import Problem
from rollout.kube.document import RunInfo
from rollout.kube.objects import Experiments, Key, experiment_from
from rollout.kube.store import KubeStatusStore
from rollout.status import HistoryEntry, Phase, Status, Traffic
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, experiment, wait_for

pytestmark = pytest.mark.controlplane
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"  # what kubectl asks for: the server fills the columns
EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "experiments").glob("*.yaml"))


def test_the_crd_is_structural_and_established(controlplane: ControlPlane, kube: Api) -> None:
    crd = controlplane.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{PLURAL}.{GROUP}").body
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert conditions.get("NonStructuralSchema", "False") == "False"
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("field", "says"),
    [
        ("spec.analysis.alpha", "rolling back a healthy canary"),
        ("spec.strategy.canary.steps", "[5, 10, 25, 50]"),
        ("spec.mesh.loadRate", "For provider local only (meshroll run and meshroll demo)"),
    ],
)
def test_kubectl_explain_describes_a_field_of_the_spec(
    controlplane: ControlPlane, kube: Api, field: str, says: str
) -> None:
    """kubectl explain reads the schema the API server publishes (OpenAPI v3), which follows a new CRD within
    seconds: the field's description from the spec models, word for word (kubectl wraps it)."""
    node = experiment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for name in field.split("."):
        node = node.get("items", node)["properties"][name]
    description = " ".join(node["description"].split())
    assert says in description

    def explained() -> str | None:
        result = controlplane.kubectl("explain", f"{PLURAL}.{field}", f"--api-version={GROUP}/{VERSION}", check=False)
        text = " ".join(result.stdout.split())
        return text if result.returncode == 0 and description in text else None

    text = wait_for(explained, f"kubectl explain {PLURAL}.{field} to show its description", timeout=60)
    assert f"FIELD: {field.split('.')[-1]}" in text


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_experiment_is_accepted_unpruned_and_reads_back_as_the_same_experiment(
    controlplane: ControlPlane, kube: Api, path: Path
) -> None:
    namespace = controlplane.create_namespace("examples")
    for document in yaml.safe_load_all(path.read_text()):
        body = copy.deepcopy(document)
        body["metadata"]["namespace"] = namespace
        created = kube.create_experiment(body)
        assert created["spec"] == document["spec"], "the API server pruned or changed fields of the spec"
        read = experiment_from(created)
        assert read.spec.model_dump() == experiment_from(body).spec.model_dump()


def test_the_api_server_takes_what_validate_takes_for_durations_and_matches(
    controlplane: ControlPlane, kube: Api
) -> None:
    """Whole seconds, duration strings and plain-string header matches, which ``meshroll validate`` accepts,
    are accepted by the API server too; a duration that is neither is refused there as well."""
    namespace = controlplane.create_namespace("shapes")
    body = experiment(namespace, "seconds", interval="8s")
    body["spec"]["strategy"]["canary"]["stepInterval"] = 8
    body["spec"]["strategy"]["canary"]["cohort"] = {"match": [{"headers": {"x-beta": "1"}}]}
    body["spec"]["analysis"]["maxDuration"] = "90s"
    created = kube.create_experiment(body)
    assert experiment_from(created).spec.model_dump() == experiment_from(body).spec.model_dump()
    wrong = experiment(namespace, "wrong", interval="8s")
    wrong["spec"]["strategy"]["canary"]["stepInterval"] = "eight seconds"
    with pytest.raises(ApiException) as refused:
        kube.create_experiment(wrong)
    assert refused.value.status == 422 and "stepInterval" in str(refused.value.body)


def test_the_api_server_keeps_failure_threshold_and_refuses_it_below_1(controlplane: ControlPlane, kube: Api) -> None:
    namespace = controlplane.create_namespace("threshold")
    body = experiment(namespace, "counted", interval="8s")
    body["spec"]["analysis"] |= {"engine": "threshold", "failureThreshold": 3}
    created = kube.create_experiment(body)
    assert created["spec"]["analysis"]["failureThreshold"] == 3, "the API server pruned failureThreshold"
    analysis = experiment_from(created).spec.analysis
    assert analysis is not None and analysis.failure_threshold == 3
    zero = experiment(namespace, "zero", interval="8s")
    zero["spec"]["analysis"] |= {"engine": "threshold", "failureThreshold": 0}
    with pytest.raises(ApiException) as refused:
        kube.create_experiment(zero)
    assert refused.value.status == 422 and "failureThreshold" in str(refused.value.body)


def test_printer_columns_and_the_status_subresource(controlplane: ControlPlane, kube: Api) -> None:
    namespace = controlplane.create_namespace("columns")
    created = kube.create_experiment(experiment(namespace, "checkout-v2"))
    assert created["metadata"]["generation"] == 1
    store = KubeStatusStore(
        Experiments(controlplane.api_client()),
        Key(namespace, "checkout-v2"),
        RunInfo(run=1, observed_generation=1),
        identity="t",
    )
    taken = HistoryEntry(
        time=1.0,
        event=Applied(),
        from_phase=Phase.PROGRESSING,
        to_phase=Phase.PROGRESSING,
        step=1,
        traffic=Traffic(canary_weight=10),
        reason="",
    )
    intent = taken.model_copy(update={"time": 2.0, "event": Start(), "step": 2, "traffic": Traffic(canary_weight=25)})
    store.save(
        Status(
            phase=Phase.PROGRESSING,
            step=2,
            traffic=Traffic(canary_weight=25),
            traffic_applied=False,
            verdict="hold",
            history=(taken, intent),
        )
    )

    table = controlplane.kubectl("get", "experiments", "-n", namespace).stdout.split("\n")
    assert table[0].split() == ["NAME", "STATUS", "STEP", "WEIGHT", "VERDICT", "AGE"]
    # step index 2: "step 3"; the mesh still holds the 10 % it took, not the 25 % the run wants
    assert table[1].split()[:5] == ["checkout-v2", "Progressing", "3", "10", "hold"]
    wide = controlplane.kubectl("get", "experiments", "-n", namespace, "-o", "wide").stdout.split("\n")
    assert wide[0].split() == ["NAME", "STATUS", "PHASE", "STEP", "WEIGHT", "TARGET", "VERDICT", "AGE"]
    assert wide[1].split()[4:6] == ["10", "25"]
    short = controlplane.kubectl("get", "mrx", "-n", namespace, "-o", "name").stdout.strip()
    assert short == "experiment.meshroll.io/checkout-v2"

    # a write of the main resource ignores .status; a write of the status ignores .spec
    obj = kube.experiment(namespace, "checkout-v2")
    edited = copy.deepcopy(obj)
    edited["spec"]["strategy"]["canary"]["steps"] = [10, 60]
    edited["status"]["phase"] = "Succeeded"
    custom = kube.custom
    after = custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "checkout-v2", edited)
    assert after["metadata"]["generation"] == 2 and after["status"]["phase"] == "Progressing"
    sneaky = copy.deepcopy(after)
    sneaky["spec"]["strategy"]["canary"]["steps"] = [99]
    after_status = custom.replace_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "checkout-v2", sneaky
    )
    assert after_status["spec"]["strategy"]["canary"]["steps"] == [10, 60]
    assert after_status["metadata"]["generation"] == 2  # a status write is not a new generation


def test_observed_generation_and_conditions_follow_the_api_conventions(controlplane: ControlPlane, kube: Api) -> None:
    namespace = controlplane.create_namespace("conditions")
    kube.create_experiment(experiment(namespace, "checkout-v2"))
    store = KubeStatusStore(
        Experiments(controlplane.api_client()),
        Key(namespace, "checkout-v2"),
        RunInfo(run=1, generation=1, observed_generation=1),
        identity="t",
    )
    store.save(Status(phase=Phase.SUCCEEDED, traffic=Traffic(canary_weight=100), reason="non-inferior"))
    status = kube.status(namespace, "checkout-v2")
    assert status["observedGeneration"] == 1 and status["run"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) == {"Progressing", "Promoted", "RolledBack", "Ready"}
    assert conditions["Promoted"]["status"] == "True" and conditions["Promoted"]["reason"] == "Promoted"
    for condition in conditions.values():
        assert condition["observedGeneration"] == 1
        assert condition["lastTransitionTime"].endswith("Z")
    waited = controlplane.kubectl(
        "wait", "experiment/checkout-v2", "-n", namespace, "--for=condition=Promoted", "--timeout=10s", check=False
    )
    assert waited.returncode == 0, waited.stderr


class NoData:
    """Nothing to judge: with steps of minutes a run stays at its first step while the test looks."""

    def collect(self, span: StepSpan, metrics: list[MetricQuery]) -> dict[str, MetricPair]:
        return {}


def table(controlplane: ControlPlane, namespace: str) -> dict[str, dict[str, Any]]:
    """``kubectl get experiments -n NAMESPACE -o wide`` as the API server answers it: name -> column -> cell."""
    request = urllib.request.Request(f"{controlplane.server}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}")
    request.add_header("Authorization", f"Bearer {controlplane.admin_token}")
    request.add_header("Accept", TABLE)
    context = ssl.create_default_context(cafile=str(controlplane.ca_file))
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        body = json.loads(response.read())
    assert body["kind"] == "Table", body
    names = [c["name"] for c in body["columnDefinitions"]]
    return {row["object"]["metadata"]["name"]: dict(zip(names, row["cells"], strict=True)) for row in body["rows"]}


def test_kubectl_get_shows_where_every_experiment_is_and_counts_steps_as_its_events_do(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    """Queued, invalid and waiting Experiments have no run, hence no phase: the STATUS column says why (the
    Ready reason) and STEP is the step the Events name ("step 1" is the first), not the schedule's index."""
    here, there = controlplane.create_namespace("cols"), controlplane.create_namespace("cols")
    for namespace in (here, there):
        kube.create_istio(namespace)
    start_controller(NoData, namespaces=(here, there), lease_namespace=here, max_concurrent_runs=1)
    kube.create_experiment(experiment(here, "running", interval="120s"))
    wait_for(lambda: kube.status(here, "running").get("trafficApplied"), "the first run's first step", timeout=30)
    kube.create_experiment(experiment(here, "invalid", steps=(50, 20)))  # the schema allows it; the model not
    waiting = experiment(here, "waiting", interval="120s")
    waiting["spec"]["after"] = [{"namespace": there, "name": "not-yet"}]
    kube.create_experiment(waiting)
    kube.create_experiment(experiment(there, "queued", interval="120s"))  # its own route; the one slot is taken

    def states() -> dict[str, Any] | None:
        rows = table(controlplane, here) | table(controlplane, there)
        wanted = {"running": "Progressing", "invalid": "InvalidSpec", "waiting": "Waiting", "queued": "Queued"}
        return rows if {name: rows.get(name, {}).get("Status") for name in wanted} == wanted else None

    rows = wait_for(states, "every Experiment's STATUS cell")
    assert rows["running"] | {"Age": None} == {
        "Name": "running", "Status": "Progressing", "Phase": "Progressing", "Step": 1, "Weight": 20,
        "Target": 20, "Verdict": "", "Age": None,
    }  # fmt: skip
    for name in ("invalid", "waiting", "queued"):  # no run: no phase, step or weight, but a STATUS
        cells = (rows[name]["Phase"], rows[name]["Step"], rows[name]["Weight"], rows[name]["Target"])
        assert cells == (None, None, None, None), rows[name]
    notes = [e["note"] for e in kube.events(here, "running") if e["reason"] == "TrafficApplied"]
    assert notes and all(re.search(r"\bstep 1\b", note) for note in notes), notes
    printed = controlplane.kubectl("get", "experiments", "-n", there).stdout.split("\n")
    assert printed[1].split()[:2] == ["queued", "Queued"]


def test_a_run_held_back_by_a_problem_shows_the_problem_and_an_ended_run_its_phase(
    controlplane: ControlPlane, kube: Api
) -> None:
    namespace = controlplane.create_namespace("cols")
    experiments = Experiments(controlplane.api_client())
    for name in ("blind", "done"):
        kube.create_experiment(experiment(namespace, name))
    entry = HistoryEntry(
        time=1.0, event=MetricsUnavailable(reason="connection refused"), from_phase=Phase.PROGRESSING,
        to_phase=Phase.PROGRESSING, step=1, traffic=Traffic(canary_weight=50), reason="held",
    )  # fmt: skip
    blind = KubeStatusStore(experiments, Key(namespace, "blind"), RunInfo(run=1, observed_generation=1), identity="t")
    blind.save(Status(phase=Phase.PROGRESSING, step=1, traffic=entry.traffic, history=(entry,)))
    blind.refresh(Problem("MetricsUnavailable", "reading Prometheus failed (retrying in 60s)"))
    done = KubeStatusStore(experiments, Key(namespace, "done"), RunInfo(run=1, observed_generation=1), identity="t")
    promoted = entry.model_copy(
        update={"event": Applied(), "to_phase": Phase.SUCCEEDED, "traffic": Traffic(canary_weight=100)}
    )
    done.save(Status(phase=Phase.SUCCEEDED, step=1, traffic=promoted.traffic, history=(promoted,)))

    rows = table(controlplane, namespace)
    assert (rows["blind"]["Status"], rows["blind"]["Phase"], rows["blind"]["Step"]) == (
        "MetricsUnavailable",
        "Progressing",
        2,
    )
    assert (rows["done"]["Status"], rows["done"]["Step"], rows["done"]["Weight"]) == ("Succeeded", 2, 100)
