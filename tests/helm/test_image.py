"""The controller image (``Dockerfile``): what it installs is what the chart runs.

No Docker engine runs on these machines, so the image itself is not built here. What can go wrong
inside it is checked with the same steps outside Docker: the wheel ``pip wheel .`` builds holds
every package and data file, and the ``meshroll`` it installs starts the controller the chart
starts. The Dockerfile is checked against the chart and pyproject.toml line by line.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
import yaml

from tests.integration.kube.chart import render

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")

pytestmark = pytest.mark.timeout(300)


def test_the_image_copies_every_package_and_starts_what_the_chart_runs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages:
        assert f"COPY {package} ./{package}" in DOCKERFILE, f"the image misses the {package} package"
    deployment = next(d for d in render("meshroll", "meshroll-system") if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["meshroll"] and container["args"][0] == "controller"
    assert 'ENTRYPOINT ["meshroll"]' in DOCKERFILE
    values = yaml.safe_load((ROOT / "helm/meshroll/values.yaml").read_text(encoding="utf-8"))
    assert f"USER {values['podSecurityContext']['runAsUser']}:" in DOCKERFILE  # runAsNonRoot needs a numeric user
    assert "git" in DOCKERFILE.split("apt-get install", 1)[1].split("&&", 1)[0]  # --gitops-repo runs git


def test_the_wheel_the_image_installs_runs_the_controller(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = wheels.glob("meshroll-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)  # dependencies from this interpreter
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    outside = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 120}
    where = subprocess.run([str(python), "-c", "import rollout; print(rollout.__file__)"], **outside)  # type: ignore[call-overload]
    assert str(env_dir) in where.stdout, "the wheel, not the source tree, must be what runs"
    started = subprocess.run([str(env_dir / "bin" / "meshroll"), "controller", "--help"], **outside)  # type: ignore[call-overload]
    assert started.returncode == 0, started.stderr
    assert "--state-dir" in started.stdout
    crd = subprocess.run([str(env_dir / "bin" / "meshroll"), "crd"], **outside)  # type: ignore[call-overload]
    assert crd.returncode == 0 and "kind: CustomResourceDefinition" in crd.stdout  # what `helm` users apply first
