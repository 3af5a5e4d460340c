"""Engine plugins installed for real: a module and a ``<name>-0.1.dist-info`` folder, as pip leaves them.

``importlib.metadata`` finds them once their folder is on ``sys.path`` (``monkeypatch.syspath_prepend``, or
PYTHONPATH for a meshroll in a subprocess). Nothing of importlib.metadata is mocked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RATIO_SOURCE = (ROOT / "examples" / "judge-plugin" / "meshroll_ratio.py").read_text()
WEB_SOURCE = (ROOT / "examples" / "source-plugin" / "meshroll_web.py").read_text()


def install(
    site: Path,
    package: str,
    entries: Mapping[str, str],
    modules: Mapping[str, str] | None = None,
    group: str = "meshroll.engines",
) -> Path:
    """Install ``package`` 0.1 into ``site``: its ``modules`` (name -> source) and its entry points in ``group``."""
    site.mkdir(parents=True, exist_ok=True)
    for name, source in (modules or {}).items():
        (site / f"{name}.py").write_text(source)
    info = site / f"{package.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    return site


def install_ratio(site: Path) -> Path:
    """The example plugin of examples/judge-plugin, engine ``ratio``."""
    return install(site, "meshroll-ratio", {"ratio": "meshroll_ratio:RatioJudge"}, {"meshroll_ratio": RATIO_SOURCE})


SOURCES = "meshroll.sources"


def install_web(site: Path) -> Path:
    """The example metric-source plugin of examples/source-plugin, source ``web``."""
    return install(site, "meshroll-web", {"web": "meshroll_web:WebSource"}, {"meshroll_web": WEB_SOURCE}, SOURCES)


EXPERIMENT = """\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: shop, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [10, 50], stepInterval: 60s}}
  analysis:
    engine: ENGINE
    minRequests: 1000
    maxDuration: 10m
    onInconclusive: rollback
    metrics:
      - {name: errors, template: istio-error-rate, margin: 0.2, critical: true}
"""


def experiment(engine: str, source: str | None = None) -> str:
    """The experiment judged by ``engine``, its metrics read from ``source`` (None: the built-in)."""
    text = EXPERIMENT.replace("ENGINE", engine)
    return (
        text
        if source is None
        else text.replace(f"    engine: {engine}\n", f"    engine: {engine}\n    source: {source}\n")
    )
