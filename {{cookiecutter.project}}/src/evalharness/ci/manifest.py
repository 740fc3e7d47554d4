"""manifest.json: what a model version is and the evidence it was released on, from a results dir.

Read from the results dir's summary.json (system, hashes, judge, cost, latency) and verdict.json (the verdict and
every gated score with its interval and threshold); the same JSON goes into the release tag's message.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalharness.ci.errors import BadInput

SCHEMA = 1
_SCORE_KEYS = ("name", "head_mean", "base_mean", "delta", "lower", "upper", "verdict")


def build_manifest(results_dir: Path, tag: str, git_sha: str) -> dict[str, Any]:
    results_dir = Path(results_dir)
    summary, verdict = read_json(results_dir / "summary.json"), read_json(results_dir / "verdict.json")
    version = re.search(r"[0-9]+\.[0-9]+\.[0-9]+$", tag)
    manifest = {
        "schema": SCHEMA,
        "tag": tag,
        "version": version.group(0) if version else None,
        "git_sha": git_sha,
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "system": system_of(summary),
        "hashes": hashes_of(summary),
        "judge": summary.get("judge"),
        "verdict": {
            "verdict": verdict.get("verdict"),
            "mode": verdict.get("mode"),
            "alpha": verdict.get("alpha"),
            "headline": verdict.get("headline"),
        },
        "scores": {
            "metrics": [{k: m.get(k) for k in _SCORE_KEYS} for m in verdict.get("metrics") or []],
            "thresholds": verdict.get("thresholds") or [],
        },
        "cost_usd": summary.get("cost_usd"),
        "latency_ms": summary.get("latency_ms"),
    }
    if summary.get("langsmith_url"):
        manifest["langsmith_url"] = summary["langsmith_url"]
    return manifest


def system_of(summary: dict[str, Any]) -> dict[str, Any]:
    system = summary.get("system")
    if isinstance(system, dict):
        return {k: system.get(k) for k in ("provider", "model", "params")}
    return {"provider": summary.get("provider"), "model": summary.get("model"), "params": None}


def hashes_of(summary: dict[str, Any]) -> dict[str, Any]:
    hashes = summary.get("hashes") or {}
    return {k: hashes.get(k) for k in ("versions", "datasets", "eval_config")}


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: missing (run the gate into this results dir first)") from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a JSON object")
    return data
