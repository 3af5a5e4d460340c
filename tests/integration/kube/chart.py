"""The Helm chart rendered with the helm binary the control-plane cache holds, and its RBAC applied."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane.fixture import Binaries, BinariesMissing, ControlPlane

CHART = Path(__file__).resolve().parents[3] / "helm" / "meshroll"
KUBE_VERSION = "1.36.3"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def helm_binary() -> Path:
    try:
        helm = Binaries.find().helm
    except BinariesMissing as exc:
        pytest.skip(str(exc))
    if helm is None:
        pytest.skip("no helm binary in the control-plane cache: run `bash tests/controlplane/build.sh`")
    return helm


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_binary()), *args], capture_output=True, text=True, timeout=120, check=False)


def render(
    release: str, namespace: str, values: Mapping[str, Any] | None = None, *, api_versions: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """``helm template`` (the chart's templates, not its crds/) as a list of objects."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    for key, value in (values or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    for version in api_versions:
        args += ["--api-versions", version]
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def apply(controlplane: ControlPlane, documents: list[dict[str, Any]], tmp: Path) -> None:
    """``kubectl apply`` as the admin."""
    path = tmp / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    result = controlplane.kubectl("apply", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr


def install_rbac(controlplane: ControlPlane, release: str, namespace: str, tmp: Path, **values: Any) -> str:
    """Apply the chart's ServiceAccount and RBAC in ``namespace``; return a token of its ServiceAccount."""
    documents = [d for d in render(release, namespace, values) if d["kind"] in RBAC_KINDS]
    apply(controlplane, documents, tmp)
    account = next(d for d in documents if d["kind"] == "ServiceAccount")["metadata"]["name"]
    return controlplane.service_account_token(namespace, account, create=False)
