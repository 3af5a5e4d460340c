"""``--write-back notes`` in cluster mode: the trigger applies an Experiment to a real API server, a controller's
status write ends its run, and the next poll's GET turns it into a note pushed to the real bare remote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from rollout.gitops import ClusterApplier, GitOpsSync, GitRepo, StateFile
from rollout.gitops.watch import ClusterOutcomes
from rollout.gitops.writeback import WriteBack
from tests.controlplane.fixture import ControlPlane
from tests.integration.gitops.gitrepo import Origin, experiment_yaml
from tests.integration.gitops.test_cluster_apply import GROUP, PLURAL, VERSION, crd

pytestmark = pytest.mark.controlplane
__all__ = ["crd"]

JUDGED = {"type": "judged", "outcome": "rollback", "engine": "sequential", "reason": "..."}
REASON = "rollback: error-rate: error rate 28.76% vs 0.34% (ratio 84.8, CS [11.1, ∞]); e-value 1.2e15 ≥ 20"


def rolled_back_status(commit: str, generation: int) -> dict[str, Any]:
    """A ``.status`` as the controller writes it when the run of ``generation`` rolled back at 25%."""
    traffic = {"canaryWeight": 25, "abActive": False, "mirrorPercent": 0.0, "faults": []}
    stable = {**traffic, "canaryWeight": 0}

    def entry(t: float, event: dict[str, Any], a: str, b: str, weights: dict[str, Any], reason: str) -> dict[str, Any]:
        return {
            "time": t,
            "event": event,
            "fromPhase": a,
            "toPhase": b,
            "step": 1,
            "traffic": weights,
            "reason": reason,
        }

    return {
        "phase": "RolledBack", "step": 1, "traffic": stable, "trafficApplied": True, "verdict": "rollback",
        "reason": REASON, "source": {"commit": commit},
        "history": [
            entry(1.0, {"type": "applied"}, "Progressing", "Progressing", traffic, "step 2"),
            entry(2.0, JUDGED, "Progressing", "RollingBack", stable, REASON),
            entry(3.0, {"type": "applied"}, "RollingBack", "RolledBack", stable, REASON),
        ],
        "observedGeneration": generation, "run": 1, "runGeneration": generation, "runSpec": {},
    }  # fmt: skip


def test_an_experiment_whose_status_says_rolled_back_gets_its_note(
    controlplane: ControlPlane, crd: None, tmp_path: Path
) -> None:
    namespace = controlplane.create_namespace("writeback")
    origin = Origin(tmp_path / "remote")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2", namespace=namespace))
    sha = origin.commit("Canary v2")
    origin.push()
    with controlplane.api_client() as api:
        objects = k8s.CustomObjectsApi(api)
        applier = ClusterApplier(objects, group=GROUP, version=VERSION, plural=PLURAL)
        sync = GitOpsSync(GitRepo(origin.url, tmp_path / "work"), "main", "experiments", StateFile(tmp_path / "s.json"),
                          applier)  # fmt: skip
        writeback = WriteBack(frozenset({"notes"}), sync, ClusterOutcomes(applier))
        sync.starter = writeback.wrap(applier)
        sync.poll()
        assert writeback.after_poll(), "under way: nothing to write yet"
        assert writeback.outbox.watched[f"{namespace}/checkout"].generation == 1

        current = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "checkout")
        current["status"] = rolled_back_status(sha, 1)
        objects.replace_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, "checkout", current)
        assert writeback.after_poll()

    shown = subprocess.run(["git", "--git-dir", str(origin.bare), "notes", "--ref", "meshroll", "show", sha],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert shown.stdout.splitlines() == [f"{namespace}/checkout: rolled back at step 2 (canary 25%): {REASON}"]
    assert writeback.outbox.watched == {} and writeback.outbox.pending == []
    assert json.loads((tmp_path / "s.json").read_text())["writeback"]
