"""pytest plugin: real Prometheus servers for the tests.

- ``prometheus`` (session): one server for the whole run, on a free 127.0.0.1 port with a
  throwaway TSDB, scraping every second whatever ``prometheus.add_target("127.0.0.1:PORT")``
  lists (a file_sd JSON file, so targets can be added while it runs). Stopped by PID at the end.
- ``prometheus_factory`` (function): starts more servers of the same kind for one test (a test
  that stops or restarts Prometheus must not take the shared one down); all stopped at its end.

The binary comes from ``$MESHROLL_PROMETHEUS_BIN``, the cache ``tests/prometheus/install.sh``
fills, or the PATH; when none is found the fixtures skip and say to run that script.

Timings worth knowing: a server is ready about 0.1-0.2 s after it starts, but a new target's
first sample is queryable only after about 5-6 s (service discovery hands targets to the scrape
loop on a 5 s tick). The plugin sums up its own start-up cost at the end of the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
INSTALL_SCRIPT = "bash tests/prometheus/install.sh"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
SCRAPE_INTERVAL = "1s"


class PrometheusMissing(RuntimeError):
    """No Prometheus binary where the fixture looks."""


def find_binary() -> Path:
    """The prometheus binary: $MESHROLL_PROMETHEUS_BIN, install.sh's cache, or the PATH."""
    env = os.environ.get("MESHROLL_PROMETHEUS_BIN")
    if env:
        if os.access(env, os.X_OK):
            return Path(env)
        raise PrometheusMissing(
            f"MESHROLL_PROMETHEUS_BIN={env} is not an executable file: fix or unset it, then run `{INSTALL_SCRIPT}`"
        )
    cache = Path(os.environ.get("MESHROLL_CACHE") or Path.home() / ".cache" / "meshroll") / "prometheus"
    if cache.is_dir():
        for version in sorted((p for p in cache.iterdir() if not p.name.startswith(".")), reverse=True):
            candidate = version / "usr" / "bin" / "prometheus"
            if os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which("prometheus")
    if found:
        return Path(found)
    raise PrometheusMissing(f"no prometheus binary found: run `{INSTALL_SCRIPT}` once (about 5 s, cached after)")


def promtool_for(binary: Path) -> Path | None:
    """promtool next to ``binary`` (Debian's package ships both), else on the PATH."""
    beside = binary.parent / "promtool"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("promtool")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Timings:
    """What Prometheus cost this session: server starts and waits for a first scrape."""

    starts: list[float] = field(default_factory=list)
    target_waits: list[float] = field(default_factory=list)


TIMINGS = Timings()


class PrometheusServer:
    """One Prometheus process with its own folder (config, file_sd targets, TSDB, log)."""

    def __init__(self, binary: Path, folder: Path, *, port: int | None = None) -> None:
        self.binary = binary
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._targets: dict[str, dict[str, str]] = {}
        folder.mkdir(parents=True, exist_ok=True)
        self.targets_file = folder / "targets.json"
        self.config_file = folder / "prometheus.yml"
        self.log_file = folder / "prometheus.log"
        self._write_targets()
        self.config_file.write_text(
            json.dumps(  # YAML is a superset of JSON
                {
                    "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
                    "scrape_configs": [
                        {
                            "job_name": "meshroll-tests",
                            "scrape_interval": SCRAPE_INTERVAL,
                            "scrape_timeout": SCRAPE_INTERVAL,
                            "file_sd_configs": [{"files": [str(self.targets_file)], "refresh_interval": "1s"}],
                        }
                    ],
                },
                indent=2,
            )
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # --- targets -----------------------------------------------------------------------------

    def add_target(self, address: str, **labels: str) -> None:
        """Scrape ``address`` ("127.0.0.1:PORT", path /metrics) every second from now on."""
        self._targets[address] = labels
        self._write_targets()

    def remove_target(self, address: str) -> None:
        self._targets.pop(address, None)
        self._write_targets()

    def _write_targets(self) -> None:
        groups = [{"targets": [address], "labels": labels} for address, labels in self._targets.items()]
        partial = self.targets_file.with_suffix(".tmp")
        partial.write_text(json.dumps(groups))
        partial.replace(self.targets_file)  # atomic: Prometheus never reads half a file

    # --- process -----------------------------------------------------------------------------

    def start(self) -> PrometheusServer:
        """Start (or restart, keeping the TSDB and port) and wait until /-/ready answers."""
        if self.running:
            return self
        began = time.monotonic()
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(self.binary),
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=2h",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = began + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}; log: {self._log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer,
            ):
                if answer.status == 200:
                    TIMINGS.starts.append(time.monotonic() - began)
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"prometheus at {self.url} not ready within {READY_TIMEOUT_S:g} s; log: {self._log_tail()}")

    def stop(self) -> None:
        """SIGTERM by PID (SIGKILL after a grace period). Idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT_S)

    def restart(self) -> PrometheusServer:
        self.stop()
        return self.start()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- reading -----------------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=5) as answer:
            body = json.loads(answer.read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus answered {body}")
        return body["data"]

    def query(self, promql: str, at: float | None = None) -> list[Any]:
        params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
        result: list[Any] = self.api("query", **params)["result"]
        return result

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
        """Poll ``check`` every 0.2 s until it holds; returns the seconds waited."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                if check():
                    return time.monotonic() - began
            time.sleep(0.2)
        raise TimeoutError(f"prometheus at {self.url}: {what} not seen within {timeout:g} s; log: {self._log_tail()}")

    def target_health(self, address: str) -> str | None:
        """The target's health ("up", "down", "unknown"), or None while discovery has not handed it over."""
        for target in self.api("targets", state="active")["activeTargets"]:
            if target.get("labels", {}).get("instance") == address:
                return str(target.get("health"))
        return None

    def wait_for_target(self, address: str, *, up: bool = True, timeout: float = 30.0) -> float:
        """Wait until ``address`` is an active target (and, with ``up``, scraped successfully)."""
        waited = self.wait_until(
            lambda: (self.target_health(address) == "up") if up else self.target_health(address) is not None,
            f"target {address}" + (" up" if up else " discovered"),
            timeout,
        )
        TIMINGS.target_waits.append(waited)
        return waited


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    try:
        return find_binary()
    except PrometheusMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def prometheus(prometheus_binary: Path) -> Iterator[PrometheusServer]:
    """One Prometheus for the session; add scrape targets with ``prometheus.add_target(...)``."""
    folder = Path(tempfile.mkdtemp(prefix="meshroll-prometheus-"))
    server = PrometheusServer(prometheus_binary, folder)
    try:
        yield server.start()
    finally:
        server.stop()
        if not os.environ.get("MESHROLL_KEEP_PROMETHEUS"):
            shutil.rmtree(folder, ignore_errors=True)


PrometheusFactory = Callable[..., PrometheusServer]


@pytest.fixture
def prometheus_factory(prometheus_binary: Path, tmp_path: Path) -> Iterator[PrometheusFactory]:
    """Start extra Prometheus servers for one test: ``prometheus_factory(targets=[...], start=True)``."""
    servers: list[PrometheusServer] = []

    def make(*, targets: tuple[str, ...] = (), start: bool = True) -> PrometheusServer:
        server = PrometheusServer(prometheus_binary, tmp_path / f"prometheus-{len(servers)}")
        for address in targets:
            server.add_target(address)
        servers.append(server)
        return server.start() if start else server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS.starts:
        return
    starts = TIMINGS.starts
    waits = TIMINGS.target_waits
    line = f"prometheus: {len(starts)} start(s), {sum(starts):.2f} s until ready in total (max {max(starts):.2f} s)"
    if waits:
        line += f"; {len(waits)} wait(s) for a scraped target, {sum(waits):.1f} s in total (max {max(waits):.1f} s)"
    terminalreporter.write_line(line)
