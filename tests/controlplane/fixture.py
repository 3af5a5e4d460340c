"""pytest plugin: a real Kubernetes control plane (etcd + kube-apiserver) for one test session.

The session-scoped fixture ``controlplane`` starts etcd and kube-apiserver on free 127.0.0.1
ports with a throwaway data folder, generated certificates, a static admin token, RBAC, and a
ServiceAccount signing key; writes an admin kubeconfig; waits for ``/readyz``; installs the
upstream CRDs from ``shared/crds`` plus a small test CRD (``widgets.test.meshroll.io``) and waits
until they are Established. At the end it stops both processes by process group.

Binaries come from ``$MESHROLL_CONTROLPLANE_BIN`` or the cache that ``tests/controlplane/build.sh``
fills; when they are missing the fixture skips and says to run that script.

``MESHROLL_KEEP_CONTROLPLANE=1`` leaves the control plane running after the session, for a look
with kubectl; ``python -m tests.controlplane.fixture`` starts one by hand until Ctrl-C.
There is no kube-controller-manager: no namespace finalisation, no garbage collection, no
"default" ServiceAccount per namespace, no Pods that ever run.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import functools
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
BUILD_SCRIPT = HERE / "build.sh"
SHARED_CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "crds"

#: Installed at start-up, in this order. Both SMI files define ``trafficsplits.split.smi-spec.io``:
#: the canonical one (v1alpha4) is installed; see :data:`LINKERD_SMI_TRAFFICSPLIT_CRD`.
DEFAULT_CRD_FILES: tuple[str, ...] = (
    "istio-virtualservice-crd.yaml",
    "istio-destinationrule-crd.yaml",
    "gateway-api-httproute-crd.yaml",
    "smi-trafficsplit-crd.yaml",
)
#: Linkerd's SMI CRD (v1alpha1/v1alpha2, quantity weights). Same CRD name as the canonical one, which
#: it cannot replace mid-session (storedVersions holds v1alpha4): tests install it under their own group.
LINKERD_SMI_TRAFFICSPLIT_CRD = SHARED_CRDS / "smi-trafficsplit-crd.linkerd-smi.yaml"

WIDGET_GROUP = "test.meshroll.io"
WIDGET_VERSION = "v1"
WIDGET_PLURAL = "widgets"
#: A tiny namespaced CRD with a status subresource, for tests of API-server semantics.
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{WIDGET_PLURAL}.{WIDGET_GROUP}"},
    "spec": {
        "group": WIDGET_GROUP,
        "scope": "Namespaced",
        "names": {"plural": WIDGET_PLURAL, "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": WIDGET_VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer", "minimum": 0},
                                    "color": {"type": "string"},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "phase": {"type": "string"},
                                    "observedGeneration": {"type": "integer"},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}

ADMIN_USER = "meshroll-admin"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
READY_TIMEOUT_S = 60.0
CRD_TIMEOUT_S = 30.0


class ControlPlaneError(RuntimeError):
    """The control plane could not be started or did not answer as expected."""


class BinariesMissing(ControlPlaneError):
    """kube-apiserver or etcd is not where the fixture looks for it."""


# --------------------------------------------------------------------------------------------
# Where the binaries are


def pinned_k8s_version() -> str:
    """The Kubernetes version build.sh pins (``MESHROLL_K8S_VERSION`` overrides, as there)."""
    override = os.environ.get("MESHROLL_K8S_VERSION")
    if override:
        return override
    match = re.search(r'MESHROLL_K8S_VERSION:-(v[0-9][^}"]*)\}', BUILD_SCRIPT.read_text())
    if not match:
        raise ControlPlaneError(f"no default K8S_VERSION found in {BUILD_SCRIPT}")
    return match.group(1)


def default_bin_dir() -> Path:
    cache = Path(os.environ.get("MESHROLL_CACHE") or Path.home() / ".cache" / "meshroll")
    return cache / "controlplane" / pinned_k8s_version() / "bin"


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path
    helm: Path | None
    kubeconform: Path | None

    @classmethod
    def find(cls) -> Binaries:
        env = os.environ.get("MESHROLL_CONTROLPLANE_BIN")
        bin_dir = Path(env) if env else default_bin_dir()
        required = {name: bin_dir / name for name in ("kube-apiserver", "etcd")}
        missing = [name for name, path in required.items() if not os.access(path, os.X_OK)]
        if missing:
            where = "MESHROLL_CONTROLPLANE_BIN" if env else "the build cache"
            raise BinariesMissing(
                f"{' and '.join(missing)} not found in {bin_dir} ({where}): "
                f"run `bash tests/controlplane/build.sh` once (about 5 min the first time, about a second after that)"
            )

        def optional(name: str) -> Path | None:
            path = bin_dir / name
            return path if os.access(path, os.X_OK) else None

        return cls(required["kube-apiserver"], required["etcd"], optional("helm"), optional("kubeconform"))


# --------------------------------------------------------------------------------------------
# Certificates and keys


@dataclass(frozen=True)
class _Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path


def _write_pki(folder: Path) -> _Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshroll-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    serving_key = ec.generate_private_key(ec.SECP256R1())
    service_ip = next(ipaddress.IPv4Network(SERVICE_CLUSTER_IP_RANGE).hosts())
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(service_ip),
    ]
    serving_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    pki = _Pki(
        ca_cert=folder / "ca.crt",
        serving_cert=folder / "apiserver.crt",
        serving_key=folder / "apiserver.key",
        service_account_key=folder / "service-account.key",
    )
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.serving_cert.write_bytes(serving_cert.public_bytes(serialization.Encoding.PEM))
    write_key(pki.serving_key, serving_key)
    write_key(pki.service_account_key, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return pki


# --------------------------------------------------------------------------------------------
# Child processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the process that started us dies (Linux)."""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def spawn(cls, name: str, args: Sequence[str], log: Path, *, die_with_parent: bool) -> _Child:
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole, spared Ctrl-C
                preexec_fn=_die_with_parent if die_with_parent else None,
            )
        return cls(name, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C (SIGINT) while the body runs (the few seconds a stop takes); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for(
    what: str,
    ready: Callable[[], bool],
    timeout: float,
    child: _Child | None = None,
    interval: float = 0.1,
) -> None:
    """Poll ``ready`` until it returns True; fail clearly on time-out or if ``child`` exits."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if child is not None and child.exited() is not None:
            raise ControlPlaneError(
                f"{child.name} exited with code {child.exited()} while waiting for {what}; "
                f"its log is at {child.log}:\n{child.log_tail()}"
            )
        if ready():
            return
        if time.monotonic() >= deadline:
            where = f"; its log is at {child.log}:\n{child.log_tail()}" if child else ""
            raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}{where}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# The control plane


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: dict[str, Any]


class ControlPlane:
    """A running etcd + kube-apiserver pair, and the ways to talk to it."""

    server: str
    kubeconfig: Path
    admin_token: str
    ca_file: Path
    workdir: Path
    k8s_version: str
    binaries: Binaries

    def __init__(self, binaries: Binaries, workdir: Path, *, keep: bool = False) -> None:
        self.binaries = binaries
        self.workdir = workdir
        self.keep = keep
        self.k8s_version = pinned_k8s_version()
        self.admin_token = secrets.token_urlsafe(32)
        self.kubeconfig = workdir / "kubeconfig"
        self.ca_file = workdir / "pki" / "ca.crt"
        self.server = ""
        self.etcd_url = ""
        self.startup_seconds = 0.0
        self._children: list[_Child] = []
        self._ssl = ssl.create_default_context()
        self._stopped = False

    # ---- life cycle -----------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        binaries: Binaries,
        *,
        workdir: Path | None = None,
        keep: bool = False,
        ready_timeout: float = READY_TIMEOUT_S,
    ) -> ControlPlane:
        folder = workdir or Path(tempfile.mkdtemp(prefix="meshroll-controlplane-"))
        plane = cls(binaries, folder, keep=keep)
        try:
            plane._start(ready_timeout)
        except BaseException:
            plane.stop(remove_files=False)  # keep the logs the error points to
            raise
        return plane

    def _start(self, ready_timeout: float) -> None:
        started = time.monotonic()
        pki = _write_pki(self.workdir / "pki")
        self._ssl = ssl.create_default_context(cafile=str(pki.ca_cert))
        self._start_etcd(ready_timeout)
        self._start_kube_apiserver(pki, ready_timeout)
        self._write_admin_kubeconfig()
        self._write_stop_script()
        self.install_crds([SHARED_CRDS / name for name in DEFAULT_CRD_FILES] + [WIDGET_CRD])
        self.startup_seconds = time.monotonic() - started

    def _start_etcd(self, timeout: float) -> None:
        client_port, peer_port = _free_port(), _free_port()
        self.etcd_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        data = self.workdir / "etcd-data"
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK):  # etcd fsyncs a lot: keep it in memory
            data = Path(tempfile.mkdtemp(prefix="meshroll-etcd-", dir=shm))
            (self.workdir / "etcd-data").symlink_to(data)
        etcd = _Child.spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=meshroll-test",
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=meshroll-test={peer_url}",
                "--initial-cluster-state=new",
                "--logger=zap",
                "--log-level=warn",
            ],
            self.workdir / "etcd.log",
            die_with_parent=not self.keep,
        )
        self._children.append(etcd)

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as response:
                    return bool(json.load(response).get("health") == "true")
            except (OSError, ValueError):
                return False

        _wait_for(f"etcd to report healthy at {self.etcd_url}", healthy, timeout, etcd)

    def _start_kube_apiserver(self, pki: _Pki, timeout: float) -> None:
        port = _free_port()
        self.server = f"https://127.0.0.1:{port}"
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        tokens.chmod(0o600)
        apiserver = _Child.spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'pki'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki.service_account_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=false",
                "--profiling=false",
                "--v=1",
            ],
            self.workdir / "kube-apiserver.log",
            die_with_parent=not self.keep,
        )
        self._children.append(apiserver)

        def ready() -> bool:
            try:
                return self.request("GET", "/readyz", timeout=5).status == 200
            except OSError:
                return False

        _wait_for(f"kube-apiserver to become ready ({self.server}/readyz)", ready, timeout, apiserver)

    def _write_admin_kubeconfig(self) -> None:
        self.write_kubeconfig(self.kubeconfig, self.admin_token, user=ADMIN_USER)

    def stop(self, *, remove_files: bool = True) -> None:
        """Stop what this object started (each child by its process group), unless kept."""
        if self._stopped:
            return
        self._stopped = True
        if self.keep:
            return
        with _sigint_ignored():  # a second Ctrl-C must not leave processes or files behind
            for child in reversed(self._children):
                child.stop()
            etcd_data = self.workdir / "etcd-data"
            with contextlib.suppress(OSError):
                if etcd_data.is_symlink():
                    _remove_tree(etcd_data.resolve())
            if remove_files:
                _remove_tree(self.workdir)

    @property
    def pids(self) -> dict[str, int]:
        return {child.name: child.pid for child in self._children}

    @property
    def logs(self) -> dict[str, Path]:
        return {child.name: child.log for child in self._children}

    def describe(self, *, with_stop_command: bool = True) -> str:
        text = (
            f"kube-apiserver {self.k8s_version} at {self.server} (started in {self.startup_seconds:.1f}s)\n"
            f"  kubectl --kubeconfig {self.kubeconfig} get virtualservices -A\n"
            f"  logs: {', '.join(str(path) for path in self.logs.values())}"
        )
        if with_stop_command:
            text += f"\n  stop: bash {self.workdir / 'stop.sh'}"
        return text

    def _write_stop_script(self) -> None:
        """``stop.sh`` in the work folder: for a control plane kept after the session."""
        lines = [
            "#!/usr/bin/env bash",
            "# Stops this kept control plane (API server first, then etcd) and removes its files.",
        ]
        for child in reversed(self._children):
            lines += [
                f"kill -TERM -- -{child.pid} 2>/dev/null || true",
                f"for _ in $(seq 100); do [[ $(ps -o stat= -p {child.pid}) == [^Z]* ]] || break; sleep 0.1; done",
                f"kill -KILL -- -{child.pid} 2>/dev/null || true",
            ]
        etcd_data = self.workdir / "etcd-data"
        if etcd_data.is_symlink():
            lines.append(f"rm -rf {etcd_data.resolve()}")
        lines.append(f"rm -rf {self.workdir}")
        script = self.workdir / "stop.sh"
        script.write_text("\n".join(lines) + "\n")
        script.chmod(0o755)

    # ---- talking to it ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | list[Any] | None = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> HttpResult:
        """One raw HTTPS request to the API server (admin token unless ``token``); any status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.server}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {token or self.admin_token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._ssl) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw.decode(errors="replace")}
        return HttpResult(status, parsed if isinstance(parsed, dict) else {"items": parsed})

    def api_client(self, token: str | None = None) -> k8s.ApiClient:
        """A ``kubernetes`` client for this server, as admin or as the bearer of ``token``."""
        configuration = k8s.Configuration(
            host=self.server,
            api_key={"BearerToken": token or self.admin_token},
            api_key_prefix={"BearerToken": "Bearer"},
            ssl_ca_cert=str(self.ca_file),
        )
        return k8s.ApiClient(configuration)

    def write_kubeconfig(self, path: Path, token: str, *, user: str = "user", namespace: str = "default") -> Path:
        """A kubeconfig for ``token`` (e.g. a ServiceAccount's, to run the controller with it)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "meshroll-test",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": user, "context": {"cluster": "meshroll-test", "user": user, "namespace": namespace}}],
            "current-context": user,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    def kubectl(
        self, *args: str, kubeconfig: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server (admin kubeconfig unless given another)."""
        return subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig or self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    # ---- objects the tests need ---------------------------------------------------------------

    def install_crds(
        self,
        crds: Sequence[Path | dict[str, Any]],
        *,
        replace: bool = False,
        timeout: float = CRD_TIMEOUT_S,
    ) -> list[str]:
        """Create CRDs (files or dicts) and wait until each is Established; returns their names.

        With ``replace``, an existing CRD of the same name is replaced by this definition.
        """
        names = []
        for crd in crds:
            for document in _crd_documents(crd):
                name = str(document["metadata"]["name"])
                path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
                result = self.request("POST", path, document)
                if result.status == 409 and replace:
                    current = self.request("GET", f"{path}/{name}").body
                    document = {
                        **document,
                        "metadata": {**document["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
                    }
                    result = self.request("PUT", f"{path}/{name}", document)
                if result.status not in (200, 201):
                    raise ControlPlaneError(f"installing CRD {name} failed ({result.status}): {result.body}")
                names.append(name)
        for name in names:
            _wait_for(f"CRD {name} to become Established", functools.partial(self._crd_established, name), timeout)
        return names

    def _crd_established(self, name: str) -> bool:
        result = self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conditions = (result.body.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    def create_namespace(self, prefix: str = "test") -> str:
        """A new namespace with a unique name starting with ``prefix``."""
        result = self.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": f"{prefix}-"}},
        )
        if result.status != 201:
            raise ControlPlaneError(f"creating a namespace failed ({result.status}): {result.body}")
        return str(result.body["metadata"]["name"])

    def ensure_service_account(self, namespace: str, name: str) -> None:
        result = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
        )
        if result.status not in (201, 409):
            raise ControlPlaneError(
                f"creating ServiceAccount {namespace}/{name} failed ({result.status}): {result.body}"
            )

    def service_account_token(
        self,
        namespace: str,
        name: str,
        *,
        expiration_seconds: int = 3600,
        create: bool = True,
    ) -> str:
        """Mint a bearer token for a ServiceAccount through the TokenRequest API."""
        if create:
            self.ensure_service_account(namespace, name)
        result = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_seconds},
            },
        )
        if result.status != 201:
            raise ControlPlaneError(f"TokenRequest for {namespace}/{name} failed ({result.status}): {result.body}")
        return str(result.body["status"]["token"])


def _crd_documents(crd: Path | dict[str, Any]) -> Iterator[dict[str, Any]]:
    if isinstance(crd, dict):
        yield crd
        return
    for document in yaml.safe_load_all(crd.read_text()):
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
            yield document


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _keep_requested() -> bool:
    return os.environ.get("MESHROLL_KEEP_CONTROLPLANE", "") not in ("", "0", "false", "no")


# --------------------------------------------------------------------------------------------
# The pytest fixture


@pytest.fixture(scope="session")
def controlplane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """A real kube-apiserver + etcd for the whole session, with the project's CRDs installed."""
    try:
        binaries = Binaries.find()
    except BinariesMissing as missing:
        pytest.skip(str(missing))
    keep = _keep_requested()
    plane = ControlPlane.start(binaries, keep=keep)
    request.addfinalizer(plane.stop)  # runs on failure and on Ctrl-C too (session teardown)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    note = plane.describe() + ("\n  (kept running: MESHROLL_KEEP_CONTROLPLANE is set)" if keep else "")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None:
        # Fixture set-up runs under output capture: step out of it so the path reaches the terminal.
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            reporter.write_line("")
            reporter.write_line(f"[controlplane] {note}")
    yield plane


def main() -> int:
    """Start a control plane by hand and keep it until Ctrl-C: ``python -m tests.controlplane.fixture``."""
    try:
        binaries = Binaries.find()
    except BinariesMissing as missing:
        print(missing, file=sys.stderr)
        return 2
    plane = ControlPlane.start(binaries)
    print(plane.describe(with_stop_command=False))
    print("Ctrl-C stops it.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
