"""summary.json: what a results dir holds, computed from its rows (so merged shards equal one run)."""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Any

from evalharness.results import SCHEMA_VERSION, ResultsDir
from evalharness.stats.percentile import percentile

CREDENTIALS = ("OPENAI_API_KEY", "JUDGE_API_KEY", "LANGSMITH_API_KEY")

if TYPE_CHECKING:
    from evalharness.session import EvalSession


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


def write_summary(session: EvalSession) -> dict[str, Any]:
    from evalharness.pricing import tokens_cost
    from evalharness.session import git_sha
    from evalharness.stopping import sequential_summary

    results = session.results
    summary = aggregate(results)
    call_stats = session.calls.stats
    judge_cost = tokens_cost(session.settings, call_stats.tokens, "judge")
    providers = summary["providers"]
    summary.update(
        schema=SCHEMA_VERSION,
        git_sha=git_sha(Path.cwd()),
        hashes=results.identity(),
        provider=providers[0].split(":", 1)[0] if len(providers) == 1 else ",".join(providers),
        model=providers[0].split(":", 1)[1] if len(providers) == 1 else None,
        judge=session.judge,
        system=session.target.describe() if session.target else None,
        mode=session.options.mode,
        shard=f"{session.options.shard[0]}/{session.options.shard[1]}",
        model_calls={
            "live": call_stats.live,
            "cached": call_stats.cached,
            "errors": call_stats.errors,
            "live_by_kind": call_stats.by_kind,
        },
        judge_tokens={k.partition(":")[2]: v for k, v in call_stats.tokens.items() if k.startswith("judge:")},
        wall_time_s=round(time.time() - session.started, 2),
        # Which credentials this run had (never their values): shows at a glance that a fork PR had none.
        credentials={name: bool(os.environ.get(name)) for name in CREDENTIALS},
        aborted=bool(session.outcome and session.outcome.aborted),
        langsmith_url=session.tracking.url,  # the experiment, when LangSmith tracked this run
        stopped=session.outcome.stopped if session.outcome else None,  # a cost cap or an early stop
        sequential=sequential_summary(results.path),
    )
    summary["cost_usd"]["live_this_invocation"] = _round(session.live_cost(), 8)
    summary["cost_usd"]["judge_this_invocation"] = _round(judge_cost, 8)
    return results.finish(summary)  # adds the rows' integrity record, and lets go of the dir


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None or x != x:  # None or nan
        return None
    return round(x, digits)
