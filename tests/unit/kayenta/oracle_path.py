"""Where the shared Kayenta oracle lives: ``<repo>/../shared/oracle/kayenta-cases.json``."""

from __future__ import annotations

from pathlib import Path

ORACLE_FILE = Path(__file__).resolve().parents[3].parent / "shared" / "oracle" / "kayenta-cases.json"
