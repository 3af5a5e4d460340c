"""Argo Rollouts routers and notifications beyond the peer files: SMI, the Gateway API plugin, several
VirtualServices, Slack subscriptions with several channels. Inputs written by hand after upstream's docs."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import run_import, write_rollout


def test_the_smi_root_service_is_the_target_service(tmp_path: Path) -> None:
    rollout = write_rollout(
        tmp_path,
        """
canaryService: payments-next
stableService: payments-current
trafficRouting:
  smi: {rootService: payments, trafficSplitName: payments-split}
steps: [{setWeight: 20}, {pause: {duration: 2m}}]
""",
    )
    imported = run_import(tmp_path, rollout)
    assert imported.code == 0, imported.stderr
    assert imported.spec["mesh"] == {"provider": "smi", "trafficSplit": "payments-split"}
    assert imported.spec["target"]["service"] == "payments"  # not the Rollout's name
    assert imported.spec["target"]["canary"]["service"] == "payments-next"
    assert "Deployments named payments-stable and payments-canary" in imported.text  # what Linkerd selects on


def test_an_unknown_smi_field_is_listed_not_dropped(tmp_path: Path) -> None:
    rollout = write_rollout(
        tmp_path, "trafficRouting:\n  smi: {trafficSplitName: s, apexPort: 8080}\nsteps: [{setWeight: 5}]"
    )
    imported = run_import(tmp_path, rollout)
    assert "trafficRouting.smi.apexPort: not translated" in imported.stderr


def test_the_gateway_api_plugin_takes_the_first_of_http_routes_and_lists_the_rest(tmp_path: Path) -> None:
    rollout = write_rollout(
        tmp_path,
        """
canaryService: cat-canary
stableService: cat-stable
trafficRouting:
  plugins:
    argoproj-labs/gatewayAPI:
      httpRoutes:
      - {name: cat-public, useHeaderRoutes: true}
      - {name: cat-internal}
      namespace: edge
steps: [{setWeight: 10}, {pause: {duration: 1m}}]
""",
        metadata="{name: catalog}",
    )
    imported = run_import(tmp_path, rollout)
    assert imported.code == 0, imported.stderr
    assert imported.spec["mesh"] == {"provider": "gateway-api", "httpRoute": "cat-public"}
    assert "httpRoutes: not translated: HTTPRoutes cat-internal: meshroll weights one HTTPRoute" in imported.stderr
    assert "gatewayAPI.namespace: not translated: 'edge': meshroll weights an HTTPRoute in" in imported.stderr


def test_every_slack_channel_of_a_subscription_is_kept_or_listed(tmp_path: Path) -> None:
    rollout = write_rollout(
        tmp_path,
        "trafficRouting: {istio: {virtualService: {name: orders}, destinationRule: {name: orders}}}\n"
        "steps: [{setWeight: 10}]",
        metadata=(
            "{name: orders, annotations: {"
            "notifications.argoproj.io/subscribe.on-rollout-completed.slack: 'deploys;orders-dev', "
            "notifications.argoproj.io/subscribe.on-rollout-aborted.slack: deploys}}"
        ),
    )
    imported = run_import(tmp_path, rollout)
    assert imported.spec["notify"] == {"slack": {"channel": "deploys"}}
    assert "on-rollout-completed.slack: not translated: channel orders-dev" in imported.stderr


def test_virtual_services_after_the_first_are_named_in_the_note(tmp_path: Path) -> None:
    rollout = write_rollout(
        tmp_path,
        """
trafficRouting:
  istio:
    virtualServices: [{name: public, routes: [primary]}, {name: internal, routes: [mesh]}]
    destinationRule: {name: orders, canarySubsetName: next, stableSubsetName: current}
steps: [{setWeight: 10}]
""",
    )
    imported = run_import(tmp_path, rollout)
    assert imported.spec["mesh"]["virtualService"] == "public" and imported.spec["mesh"]["route"] == "primary"
    assert "the first was kept, not internal" in imported.stderr
