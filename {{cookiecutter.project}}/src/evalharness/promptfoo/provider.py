"""The bot as a promptfoo provider, driven exactly as the harness drives it (the target in evals/eval.yaml).

promptfoo keeps Python workers alive between calls, so the target is built once per worker. Its model calls
go through the harness's cache, so promptfoo after `make eval` costs no model calls (and replay works).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from evalharness.calls import ModelCalls, NotEvaluated
from evalharness.options import RunOptions
from evalharness.settings import DEFAULT_EVAL_CONFIG, load_settings
from evalharness.target import Target, load_target

NOT_EVALUATED = "not evaluated (replay mode)"  # how a cache miss reads in promptfoo's results
_target: Target | None = None
_lock = threading.Lock()


def target() -> Target:
    global _target
    with _lock:
        if _target is None:
            settings, _ = load_settings(DEFAULT_EVAL_CONFIG)
            options = RunOptions.from_env()
            calls = ModelCalls(options.cache, options.mode, settings.requests_per_minute)
            _target = load_target(settings.target, Path(DEFAULT_EVAL_CONFIG).parent, calls)
        return _target


def call_api(prompt: str, options: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """promptfoo's provider entry point. The prompt is the question; vars carry the conversation and any
    planted documents. A failure is returned as an error (infrastructure), never as a wrong answer."""
    variables = context.get("vars") or {}
    try:
        history, documents = (json.loads(variables.get(name) or "[]") for name in ("history", "documents"))
        output = target()(prompt, history, documents)
    except NotEvaluated as exc:
        return {"error": f"{NOT_EVALUATED}: {exc}"}
    except Exception as exc:  # the bot or its model failed
        return {"error": f"{type(exc).__name__}: {exc}"}
    usage = output.usage or {}
    return {
        "output": output.answer,
        "metadata": {
            "sources": output.sources,
            "provider": output.provider,
            "model": output.model,
            "versions": target().versions,  # which bot answered: the gate matches it with the eval run's
        },
        "latencyMs": round(output.latency_ms),
        "cached": output.cached,
        "tokenUsage": {
            "prompt": usage.get("prompt_tokens", 0),
            "completion": usage.get("completion_tokens", 0),
            "total": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
        },
    }
