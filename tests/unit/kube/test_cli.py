"""``meshroll controller`` and ``meshroll crd`` as a user starts them: one clear line on a mistake."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rollout.cli.controller_commands import EXIT_FORCED, SignalStop
from rollout.crd import experiment_crd

MESHROLL = [sys.executable, "-c", "from rollout.cli import main; main()"]


def meshroll(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST", "MESHROLL_PROMETHEUS_URL")}
    env.update(env_extra or {})
    return subprocess.run([*MESHROLL, *args], capture_output=True, text=True, timeout=60, env=env)


def test_crd_prints_the_generated_crd() -> None:
    result = meshroll("crd")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout) == experiment_crd()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "8080"], "meshroll: --listen '8080' is not HOST:PORT; write it like 127.0.0.1:8080"),
        (["--lease-duration", "5", "--renew-deadline", "6"], "meshroll: lease timings must satisfy"),
        (["--prometheus", "prometheus:9090"], "meshroll: --prometheus: 'prometheus:9090' is not a Prometheus URL"),
        (
            ["--prometheus-header", "X-Scope-OrgID:shop"],
            "meshroll: --prometheus-header, --prometheus-ca-file, --prometheus-insecure and --prometheus-timeout are "
            "for --prometheus URL",
        ),
        (
            ["--prometheus", "http://prom:9090", "--prometheus-header", "X-Scope-OrgID=shop"],
            "meshroll: --prometheus-header 'X-Scope-OrgID=shop' is not NAME:VALUE",
        ),
        (["--log-format", "xml"], "meshroll: --log-format 'xml': use json or text"),
        (["--log-level", "loud"], "meshroll: --log-level 'loud': use debug, info, warning or error"),
        (["--resync", "0"], "meshroll: Invalid value for '--resync': Input should be greater than or equal to 1"),
        (["--resync", "-5"], "meshroll: Invalid value for '--resync': Input should be greater than or equal to 1"),
        (
            ["--gitops-repo", "/tmp/x", "--gitops-interval", "banana"],
            "meshroll: --gitops-interval 'banana' is not a duration; write it like 30s, 2m or 1h "
            "(a bare number is seconds)",
        ),
        (["--gitops-write-back", "notes"], "meshroll: --gitops-write-back needs --gitops-repo: it writes back"),
        (
            ["--gitops-repo", "/tmp/x", "--gitops-write-back", "both"],
            "meshroll: --gitops-write-back 'both' is not one of notes, revert-branch",
        ),
    ],
)
def test_a_mistake_is_one_line_and_exit_1(args: list[str], message: str, tmp_path: Path) -> None:
    result = meshroll("controller", "--kubeconfig", str(tmp_path / "none"), *args)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_missing_kubeconfig_says_what_to_do(tmp_path: Path) -> None:
    result = meshroll("controller", "--kubeconfig", str(tmp_path / "none"))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"meshroll: no kubeconfig at {tmp_path / 'none'}; pass --kubeconfig FILE, or run inside a cluster"
    )


def test_a_kubeconfig_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    for command in (("controller",), ("chaos", "stop", "--all")):
        result = meshroll(*command, "--kubeconfig", str(tmp_path))
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"meshroll: --kubeconfig {tmp_path} is a folder; give the kubeconfig file (e.g. {tmp_path}/config)"
        )


def test_an_unreachable_api_server_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    result = meshroll("controller", "--kubeconfig", str(config), "--listen", "127.0.0.1:0")
    assert result.returncode == 1
    assert "the API server did not answer" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_second_signal_ends_a_stop_that_hangs_at_once_and_the_first_asks_for_an_orderly_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Probe: a controller whose stop hung ignored SIGTERM and SIGINT for minutes, until kill -9."""
    exits: list[int] = []
    stop = SignalStop(exit_now=exits.append)
    with caplog.at_level(logging.INFO, logger="meshroll.controller"):
        stop.on_signal(signal.SIGTERM)
        assert stop.requested.is_set() and exits == []  # an orderly stop: the runs keep their status
        stop.on_signal(signal.SIGINT)
    assert exits == [EXIT_FORCED]
    assert [r.getMessage() for r in caplog.records] == [
        "SIGTERM: stopping (send it again to exit at once)",
        "SIGINT again: exiting now, without waiting for the runs' jobs",
    ]


def test_the_controller_reaches_prometheus_as_run_and_analyze_do(tmp_path: Path) -> None:
    """A tenant header, a CA bundle and a timeout reach every query of the controller's runs."""
    from rollout.cli.controller_commands import _source_factory
    from rollout.cli.prometheus_options import PrometheusAccess

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    access = PrometheusAccess(headers=("X-Scope-OrgID: shop",), ca_file=ca, timeout=3.0)
    factory = _source_factory("https://prom.monitoring:9090", access)
    assert factory is not None
    config = factory().config  # type: ignore[attr-defined]
    assert config.headers == (("X-Scope-OrgID", "shop"),) and config.timeout == 3.0
    assert config.ca_file == str(ca) and not config.insecure
