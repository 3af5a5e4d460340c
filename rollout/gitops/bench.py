"""What a poll costs as the number of experiment files grows: ``meshroll bench gitops``.

Each size gets a real git repository (a bare origin, pushed to from a working clone, the files spread
over several commits), a fresh state file, and a starter that starts nothing: the trigger's own work
(fetch, list, read, parse, decide, record) is timed, first on the initial poll, then on a poll with
nothing new. Files parsed and state writes are counted through the parser and the state file.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rollout.gitops.apply import StartRequest
from rollout.gitops.errors import GitOpsError
from rollout.gitops.repo import GitRepo
from rollout.gitops.state import FileRecord, SourceState, StateFile
from rollout.gitops.sync import GitOpsSync
from rollout.gitops.trigger import ExperimentFile, parse_experiment_file

EXPERIMENT = """apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata:
  name: {name}
  namespace: bench
spec:
  target:
    service: {name}
    stable: {{version: v1}}
    canary: {{version: v2}}
  mesh:
    provider: local
    loadRate: 300
    stable: {{medianLatency: 5ms, p99Latency: 20ms, errorRate: 0.002}}
    canary: {{medianLatency: 5ms, p99Latency: 20ms, errorRate: 0.01}}
  strategy:
    canary: {{steps: [10, 50], stepInterval: 30s}}
  analysis:
    engine: sequential
    alpha: 0.05
    minRequests: 200
    maxDuration: 10m
    metrics:
      - {{name: error-rate, template: istio-error-rate, margin: 0.5, critical: true}}
"""


@dataclass(frozen=True)
class PollCost:
    files: int
    started: int
    first_s: float  # the first poll: every file new
    parsed: int  # files parsed by the first poll
    state_writes: int  # whole state-file writes by the first poll
    journal_lines: int  # records appended to the journal by the first poll
    again_s: float  # a second poll, nothing new


class _CountingState(StateFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes = 0
        self.lines = 0

    def save(self, source: str, state: SourceState) -> None:
        self.writes += 1
        super().save(source, state)

    def record(self, source: str, path: str, record: FileRecord | None) -> None:
        self.lines += 1
        super().record(source, path, record)


class _StartNothing:
    def __init__(self) -> None:
        self.started = 0

    def start(self, request: StartRequest) -> None:
        self.started += 1


def _git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=meshroll bench", "-c", "user.email=bench@meshroll.invalid"]
    command = ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *identity, *args]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise GitOpsError(f"git {args[0]} failed while building the bench repository: {result.stderr.strip()}")


def build_origin(root: Path, files: int, commits: int) -> Path:
    """A bare repository whose main branch holds ``files`` experiments under experiments/, in ``commits`` commits."""
    bare, work = root / "origin.git", root / "work"
    (work / "experiments").mkdir(parents=True)
    bare.mkdir()
    _git(bare, "init", "--quiet", "--bare", "-b", "main")
    _git(work, "init", "--quiet", "-b", "main")
    batches = max(1, min(commits, files))
    for batch in range(batches):
        for i in range(batch * files // batches, (batch + 1) * files // batches):
            name = f"service-{i:05d}"
            (work / "experiments" / f"{name}.yaml").write_text(EXPERIMENT.format(name=name), encoding="utf-8")
        _git(work, "add", "--all")
        _git(work, "commit", "--quiet", "-m", f"experiments, batch {batch + 1} of {batches}")
    _git(work, "push", "--quiet", str(bare), "HEAD:main")
    return bare


def measure(files: int, commits: int = 10) -> PollCost:
    """Build a repository of ``files`` experiments and time a first poll and a poll with nothing new."""
    parsed = 0

    def counting_parse(text: str, path: str) -> ExperimentFile:
        nonlocal parsed
        parsed += 1
        return parse_experiment_file(text, path)

    quiet = logging.getLogger("meshroll.gitops")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # not a line per started experiment
    try:
        with tempfile.TemporaryDirectory(prefix="meshroll-bench-gitops-") as folder:
            root = Path(os.path.realpath(folder))
            bare = build_origin(root, files, commits)
            state = _CountingState(root / "state.json")
            starter = _StartNothing()
            sync = GitOpsSync(GitRepo(str(bare), root / "state.d"), "main", "experiments/", state, starter,
                              parse=counting_parse)  # fmt: skip
            began = time.perf_counter()
            sync.poll()
            first = time.perf_counter() - began
            counts = (parsed, state.writes, state.lines)
            began = time.perf_counter()
            sync.poll()
            again = time.perf_counter() - began
    finally:
        quiet.setLevel(level)
    return PollCost(files, starter.started, first, *counts, again)
