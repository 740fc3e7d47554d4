"""`python -m tests.benchmarks` (make bench): one run, same cases, server and concurrency for every engine.

(a) our harness, cold cache; (b) deepeval's evaluate(); (c) promptfoo eval; (d) our harness, warm cache;
then `make gate` over N cases × 5 metrics; then (e) our harness, cold, on a larger run (default N=10 000 at
C=100) to show that wall time and memory scale. Prints a markdown table ending with the one-line summary, and
writes bench.md and bench.json into the results dir. Targets are reported, not asserted; the run fails only
when an engine fails or the engines disagree on how many cases passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.benchmarks import bench_project, contestants
from tests.benchmarks.report import render
from tests.benchmarks.server_process import ServerControl, latency_server
from tests.benchmarks.workload import cases as make_cases
from tests.benchmarks.workload import expected_passes

TEMPLATE_DIR = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument("--cases", type=int, default=1000, help="N (default 1000)")
    parser.add_argument("--concurrency", type=int, default=20, help="C (default 20)")
    parser.add_argument("--latency-ms", type=float, default=200.0, help="L per model call (default 200)")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="L varies uniformly by ± this")
    parser.add_argument("--large-cases", type=int, default=10_000, help="N of the scaling run (0: none)")
    parser.add_argument("--large-concurrency", type=int, default=100, help="C of the scaling run")
    parser.add_argument("--gate-repeats", type=int, default=3, help="times `make gate` is timed (median kept)")
    parser.add_argument("--workdir", type=Path, default=TEMPLATE_DIR / ".bench")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    results = workdir / "results"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)

    env = _clean_environment()
    project = bench_project.bake_and_install(workdir, env)
    cases = make_cases(args.cases)
    bench_project.write_workload(project, cases, args.concurrency)
    cache = results / "calls.sqlite"
    with latency_server(args.latency_ms, args.jitter_ms, workdir) as server:
        env = {**env, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": server.url}
        model = bench_project.MODEL
        race = [
            lambda: contestants.harness("ours, cold cache", project, env, results / "cold", cache, "throughput"),
            lambda: contestants.deepeval(project, env, cases, server.url, model, args.concurrency, results / "de"),
            lambda: contestants.promptfoo(project, env, cases, server.url, model, args.concurrency, results / "pf"),
            lambda: contestants.harness("ours, warm cache", project, env, results / "warm", cache, "throughput"),
        ]
        runs = []
        for run in race:
            server.reset()
            runs.append(run())
            runs[-1].calls = server.calls()
        gate = time_gate(project, env, server, results, cache, args.gate_repeats)
        large = None
        if args.large_cases:
            large = time_large(project, env, server, results, args.large_cases, args.large_concurrency, args.latency_ms)

    expected = expected_passes(args.cases, bench_project.MODEL)
    disagree = [run.name for run in runs if run.passes != expected]
    if large and large["passes"] != large["expected_passes"]:
        disagree.append(large["name"])
    figures = {
        "cases": args.cases, "concurrency": args.concurrency, "latency_ms": args.latency_ms,
        "jitter_ms": args.jitter_ms, "limit_s": args.cases * args.latency_ms / 1000 / args.concurrency,
        "expected_passes": expected, "cpus": os.cpu_count(),
        "runs": [
            {"name": r.name, "wall_s": r.measured.wall_s, "calls": r.calls, "peak_rss_mb": r.measured.peak_rss_mb,
             "passes": r.passes, "note": r.note}
            for r in runs
        ],
        "gate": gate,
        "large": large,
    }  # fmt: skip
    markdown = render(figures)
    (results / "bench.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    (results / "bench.md").write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    if disagree:
        print(f"error: these runs did not pass the expected {expected} cases: {disagree}", file=sys.stderr)
        return 1
    return 0


def time_gate(project: Path, env: dict[str, str], server: ServerControl, results: Path, cache: Path,
              repeats: int) -> dict:  # fmt: skip
    """Two full runs of the five-metric suite (the head from a worse model), then `make gate` timed."""
    base, head = results / "gate-base", results / "gate-head"
    server.reset(latency_ms=0)  # what is timed here is the gate, not the model
    contestants.harness("gate baseline", project, env, base, cache, "gate")
    bench_project.use_model(project, bench_project.MODEL + "-worse")
    try:
        contestants.harness("gate head", project, env, head, cache, "gate")
    finally:
        bench_project.use_model(project, bench_project.MODEL)
    walls, code = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        proc = subprocess.run(
            ["make", "-C", str(project), "gate", f"BASELINE={base}", f"RESULTS={head}"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        walls.append(time.perf_counter() - started)
        code = proc.returncode
    verdict = json.loads((head / "verdict.json").read_text(encoding="utf-8"))
    if verdict.get("exit_code") not in (0, 1):  # PASS, INCONCLUSIVE or FAIL: a verdict was reached
        raise RuntimeError(f"make gate failed (exit {code}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    rows = sum(1 for _ in (head / "results.jsonl").open(encoding="utf-8"))
    return {
        "cases": json.loads((head / "summary.json").read_text(encoding="utf-8"))["cases"],
        "metrics": len(bench_project.GATE_METRICS),
        "rows": rows,
        "median_s": statistics.median(walls),
        "max_s": max(walls),
        "verdict": verdict["verdict"],
        "bootstrap": None,  # the gate uses clustered standard errors; it has no resampling to time
    }


def time_large(project: Path, env: dict[str, str], server: ServerControl, results: Path, cases: int,
               concurrency: int, latency_ms: float) -> dict:  # fmt: skip
    """Our harness, cold, on N cases at concurrency C: how wall time and peak memory grow with the run."""
    bench_project.write_workload(project, make_cases(cases), concurrency)
    server.reset(latency_ms=latency_ms)
    name = f"ours, cold cache, N={cases}, C={concurrency}"
    run = contestants.harness(name, project, env, results / "large", results / "calls-large.sqlite", "throughput")
    return {
        "name": name, "cases": cases, "concurrency": concurrency, "limit_s": cases * latency_ms / 1000 / concurrency,
        "wall_s": run.measured.wall_s, "peak_rss_mb": run.measured.peak_rss_mb, "calls": server.calls(),
        "passes": run.passes, "expected_passes": expected_passes(cases, bench_project.MODEL),
    }  # fmt: skip


def _clean_environment() -> dict[str, str]:
    """The user's keys and virtualenv stay out: nothing may leave loopback, and the project uses its own venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGSMITH_", "BOT_", "JUDGE_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # set on some CI machines; it makes every Python start compile afresh
    env.update(LANGSMITH_TRACING="false", DEEPEVAL_TELEMETRY_OPT_OUT="1", PROMPTFOO_DISABLE_TELEMETRY="1")
    return env


if __name__ == "__main__":
    sys.exit(main())
