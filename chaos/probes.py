"""HTTP probes for steady-state hypotheses: the one module here that does I/O."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from chaos.steady_state import ProbeResult


def http_probe(url: str, *, expect_status: int = 200, timeout: float = 2.0) -> ProbeResult:
    """GET ``url`` once; ok when it answers ``expect_status`` within ``timeout`` seconds."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return ProbeResult(url, False, str(reason))
    elapsed = (time.monotonic() - started) * 1000
    return ProbeResult(url, status == expect_status, f"{status} in {elapsed:.0f}ms (expected {expect_status})")
