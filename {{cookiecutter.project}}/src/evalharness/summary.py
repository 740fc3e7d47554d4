"""summary.json: what a results dir holds, computed from its rows (so merged shards equal one run)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

from evalharness.calls import CallStats
from evalharness.options import RunOptions
from evalharness.pricing import tokens_cost
from evalharness.provenance import credentials, git_sha
from evalharness.results import SCHEMA_VERSION, ResultsDir
from evalharness.settings import EvalSettings
from evalharness.stats.percentile import percentile
from evalharness.stopping import sequential_summary


def aggregate(results: ResultsDir) -> dict[str, Any]:
    """Everything in the summary that depends only on the rows: identical for a run and its merged shards."""
    outputs = results.outputs()
    rows = results.results()
    by_metric: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    statuses: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        statuses[row["metric"]][row["status"]] += 1
        if row["status"] == "ok":
            by_metric[row["metric"]][f"{row['suite']}/{row['case']}"].append((row["score"], row["passed"]))
    metrics = {}
    for name in sorted(statuses):
        per_case = by_metric.get(name, {})
        metrics[name] = {
            "n_cases": len(per_case),
            "mean": _round(fmean(fmean(s for s, _ in v) for v in per_case.values())) if per_case else None,
            "pass_rate": _round(fmean(fmean(float(p) for _, p in v) for v in per_case.values())) if per_case else None,
            "statuses": dict(sorted(statuses[name].items())),
        }
    answered = [o for o in outputs.values() if o["status"] not in ("error", "not_evaluated")]
    latencies = [o["latency_ms"] for o in answered if o.get("latency_ms") is not None]
    costs = [o["cost_usd"] for o in answered if o.get("cost_usd") is not None]
    tokens = Counter()
    for o in answered:
        tokens.update(o.get("usage") or {})
    return {
        "units": dict(sorted(Counter(o["status"] for o in outputs.values()).items())),
        "cases": len({(o["suite"], o["case"]) for o in outputs.values()}),
        "providers": sorted({f"{o.get('provider')}:{o.get('model')}" for o in answered}),
        "metrics": metrics,
        "tokens": {"answers": dict(sorted(tokens.items()))},
        "cost_usd": {"answers": _round(sum(costs), 8), "answers_priced": len(costs), "answers_total": len(answered)},
        "latency_ms": {
            "p50": _round(percentile(latencies, 50)),
            "p95": _round(percentile(latencies, 95)),
            "mean": _round(fmean(latencies)) if latencies else None,
        },
    }


@dataclass(frozen=True)
class RunFacts:
    """What only the running process knows of a run, beyond its rows."""

    settings: EvalSettings
    options: RunOptions
    system: dict[str, Any]  # the target's description: provider, model, params
    judge: dict[str, Any]
    calls: CallStats
    started: float
    langsmith_url: str | None
    aborted: bool
    stopped: dict[str, Any] | None
    live_cost: float


def write_summary(results: ResultsDir, facts: RunFacts) -> dict[str, Any]:
    summary = aggregate(results)
    call_stats, options = facts.calls, facts.options
    providers = summary["providers"]
    summary.update(
        schema=SCHEMA_VERSION,
        git_sha=git_sha(Path.cwd()),
        hashes=results.identity(),
        provider=providers[0].split(":", 1)[0] if len(providers) == 1 else ",".join(providers),
        model=providers[0].split(":", 1)[1] if len(providers) == 1 else None,
        judge=facts.judge,
        system=facts.system,
        mode=options.mode,
        shard=f"{options.shard[0]}/{options.shard[1]}",
        model_calls={
            "live": call_stats.live,
            "cached": call_stats.cached,
            "errors": call_stats.errors,
            "live_by_kind": call_stats.by_kind,
        },
        judge_tokens={k.partition(":")[2]: v for k, v in call_stats.tokens.items() if k.startswith("judge:")},
        wall_time_s=round(time.time() - facts.started, 2),
        credentials=credentials(),
        aborted=facts.aborted,
        langsmith_url=facts.langsmith_url,  # the experiment, when LangSmith tracked this run
        stopped=facts.stopped,  # a cost cap or an early stop
        sequential=sequential_summary(results.path),
    )
    summary["cost_usd"]["live_this_invocation"] = _round(facts.live_cost, 8)
    summary["cost_usd"]["judge_this_invocation"] = _round(tokens_cost(facts.settings, call_stats.tokens, "judge"), 8)
    return results.finish(summary)  # adds the rows' integrity record, and lets go of the dir


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None or x != x:  # None or nan
        return None
    return round(x, digits)
