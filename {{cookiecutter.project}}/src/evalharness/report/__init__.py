"""The gate's reports, all rendered from the one verdict dict of `gate.evaluate()`:

verdict.json   the verdict itself (machine-readable; what the other three are rendered from)
report.md      a GitHub PR comment / job summary
junit.xml      test results for CI test-report views
report.html    a self-contained page with a delta chart, for artifacts
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from evalharness.report.html import page
from evalharness.report.junit import junit
from evalharness.report.markdown import MARKER, markdown

__all__ = ["MARKER", "junit", "markdown", "page", "write_reports"]


def write_reports(results_dir: Path, verdict: dict[str, Any]) -> dict[str, Path]:
    """Write the four reports into results_dir; each appears whole or not at all (write, then rename)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    rendered = {
        "verdict.json": json.dumps(_finite(verdict), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        "report.md": markdown(verdict),
        "junit.xml": junit(verdict),
        "report.html": page(verdict),
    }
    return {name: _write(results_dir / name, text) for name, text in rendered.items()}


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: two gates on one dir do not collide
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _finite(value: Any) -> Any:
    """NaN and Infinity are not JSON (json.dumps would write them anyway): they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
