"""Real git repositories for the GitOps tests: a bare ``origin`` and a working clone that commits and pushes."""

from __future__ import annotations

import subprocess
from pathlib import Path

ANN = ("Ann Example", "ann@example.com")
BOB = ("Bob Builder", "bob@example.com")


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


class Origin:
    """``origin.git`` (bare, what meshroll watches) and ``work`` (where the tests commit)."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.bare = root / "origin.git"
        self.work = root / "work"
        self.branch = branch
        self.bare.mkdir(parents=True)
        self.work.mkdir(parents=True)
        git(self.bare, "init", "--quiet", "--bare", "-b", branch)
        git(self.work, "init", "--quiet", "-b", branch)
        git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return str(self.bare)

    def write(self, path: str, text: str) -> None:
        file = self.work / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)

    def remove(self, path: str) -> None:
        (self.work / path).unlink()

    def commit(self, message: str, author: tuple[str, str] = ANN, *, amend: bool = False) -> str:
        name, email = author
        git(self.work, "add", "--all")
        extra = ["--amend"] if amend else []
        git(
            self.work, "-c", f"user.name={name}", "-c", f"user.email={email}",
            "commit", "--quiet", "--allow-empty", *extra, "-m", message,
        )  # fmt: skip
        return self.head()

    def push(self, *, force: bool = False) -> None:
        git(self.work, "push", "--quiet", *(["--force"] if force else []), "origin", f"HEAD:{self.branch}")

    def head(self) -> str:
        return git(self.work, "rev-parse", "HEAD")

    def reset_hard(self, commit: str) -> None:
        git(self.work, "reset", "--quiet", "--hard", commit)


def experiment_yaml(
    name: str, canary: str = "v2", *, namespace: str = "demo", step_interval: str = "2s", extra_metadata: str = ""
) -> str:
    """A small local-provider experiment (its canary errors a lot, so a real run ends in seconds)."""
    return f"""apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata:
  name: {name}
  namespace: {namespace}{extra_metadata}
spec:
  target:
    service: checkout
    stable: {{version: v1}}
    canary: {{version: {canary}}}
  mesh:
    provider: local
    loadRate: 300
    seed: 7
    stable: {{medianLatency: 5ms, p99Latency: 20ms, errorRate: 0.002}}
    canary: {{medianLatency: 5ms, p99Latency: 20ms, errorRate: 0.3}}
  strategy:
    canary: {{steps: [50], stepInterval: {step_interval}}}
  analysis:
    engine: sequential
    alpha: 0.05
    minRequests: 200
    maxDuration: 30s
    metrics:
      - {{name: error-rate, template: istio-error-rate, margin: 0.5, critical: true}}
"""


BROKEN_YAML = """apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: broken, namespace: demo}
spec:
  target: {service: checkout}
"""
