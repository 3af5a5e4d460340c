"""The generated CRD on a real API server: structural, every example accepted unpruned, printer columns,
the status subresource, and observedGeneration/conditions as the API conventions want them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from rollout.crd import GROUP, PLURAL, VERSION
from rollout.kube.document import RunInfo
from rollout.kube.objects import Experiments, Key, experiment_from
from rollout.kube.store import KubeStatusStore
from rollout.status import Phase, Status, Traffic
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.helpers import Api, experiment

pytestmark = pytest.mark.controlplane
EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "experiments").glob("*.yaml"))


def test_the_crd_is_structural_and_established(controlplane: ControlPlane, kube: Api) -> None:
    crd = controlplane.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{PLURAL}.{GROUP}").body
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert conditions.get("NonStructuralSchema", "False") == "False"
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


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
    store.save(Status(phase=Phase.PROGRESSING, step=2, traffic=Traffic(canary_weight=25), verdict="hold"))

    table = controlplane.kubectl("get", "experiments", "-n", namespace).stdout.split("\n")
    assert table[0].split() == ["NAME", "PHASE", "STEP", "WEIGHT", "VERDICT", "AGE"]
    assert table[1].split()[:5] == ["checkout-v2", "Progressing", "2", "25", "hold"]
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
