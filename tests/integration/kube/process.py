"""``meshroll controller`` as a child process, as a Pod would run it (for the e2e and lease tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

MESHROLL = [sys.executable, "-c", "from rollout.cli import main; main()"]
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ControllerProcess:
    """One controller process; its JSON log goes to ``log``."""

    def __init__(self, kubeconfig: Path, log: Path, args: Sequence[str], *, identity: str) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.args = list(args)
        self.identity = identity
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerProcess:
        command = [
            *MESHROLL,
            "controller",
            f"--kubeconfig={self.kubeconfig}",
            f"--listen=127.0.0.1:{self.port}",
            f"--id={self.identity}",
            *self.args,
        ]
        env = {k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST", "POD_NAME")}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO, env=env,
                start_new_session=True,
            )  # fmt: skip
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the controller exited with {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError):
                if self.get("/readyz")[0] == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"the controller was not ready within {timeout:.0f}s: {self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to this process (by its id) and wait for it to end."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"
