"""`make bench` (tests/benchmarks): its loopback model, its measurements and its report, then one small run.

The benchmark's targets are measured, not asserted here: these tests check that what it measures is real
(calls counted, latency honoured in parallel, memory summed over a process tree, every engine doing the
same work) on a run small enough for CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.benchmarks.latency_server import LatencyServer
from tests.benchmarks.measure import run_measured
from tests.benchmarks.report import render
from tests.benchmarks.workload import answer, cases, expected_passes


@pytest.fixture
def server():
    server = LatencyServer(latency_s=0.2, jitter_s=0.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def chat(url: str, question: str, model: str = "bench-model") -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": question}]}).encode()
    request = urllib.request.Request(f"{url}/chat/completions", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["choices"][0]["message"]["content"]


def test_the_workload_can_fail_and_a_worse_model_fails_more() -> None:
    batch = cases(30)
    assert len({c.id for c in batch}) == 30
    right = [c for c in batch if c.fact in answer(c.question, "bench-model")]
    assert len(right) == expected_passes(30, "bench-model") == 27
    assert expected_passes(30, "bench-model-worse") == 25 < len(right)


def test_calls_wait_the_latency_in_parallel_and_are_counted(server: LatencyServer) -> None:
    batch = cases(20)
    started = time.perf_counter()
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda c: chat(server.url, c.question), batch))
    elapsed = time.perf_counter() - started
    assert server.calls == 20
    assert 0.2 <= elapsed < 1.0, elapsed  # 20 calls of 200 ms at once: about L, far from 20·L
    assert answers[0] == "Widget W-00001 has part code PC-00001."
    assert answers[9] == "I don't know."  # every tenth


def test_the_control_endpoint_resets_the_count_and_sets_the_latency(server: LatencyServer) -> None:
    chat(server.url, "What is the part code of widget W-00001?")
    root = server.url.removesuffix("/v1")
    control = urllib.request.Request(f"{root}/control", json.dumps({"latency_ms": 0}).encode(), method="POST")
    urllib.request.urlopen(control, timeout=10).close()
    with urllib.request.urlopen(f"{root}/stats", timeout=10) as response:
        assert json.load(response) == {"calls": 0}
    started = time.perf_counter()
    chat(server.url, "What is the part code of widget W-00002?")
    assert time.perf_counter() - started < 0.15


def test_peak_memory_is_summed_over_the_process_tree(tmp_path: Path) -> None:
    # A parent holding 80 MB starts a child holding 80 MB: the tree's peak holds both.
    child = "import time; held = b'c' * (80 << 20); time.sleep(1.0)"
    parent = f"import subprocess, sys; held = b'p' * (80 << 20); subprocess.run([sys.executable, '-c', {child!r}])"
    measured = run_measured([sys.executable, "-c", parent], tmp_path, {})
    assert measured.returncode == 0, measured.output
    assert measured.peak_rss_mb > 160, measured.peak_rss_mb
    assert measured.wall_s >= 1.0


def test_the_report_ends_with_the_summary_line() -> None:
    def run(name: str, wall: float, calls: int) -> dict:
        return {"name": name, "wall_s": wall, "calls": calls, "peak_rss_mb": 100, "passes": 900, "note": ""}

    figures = {
        "cases": 1000, "concurrency": 20, "latency_ms": 200, "jitter_ms": 0, "limit_s": 10.0, "expected_passes": 900,
        "cpus": 2,
        "runs": [run("ours, cold", 11.0, 1000), run("deepeval", 22.0, 1000), run("promptfoo", 16.5, 1000),
                 run("ours, warm", 2.0, 0)],
        "gate": {"cases": 1000, "metrics": 5, "rows": 5000, "median_s": 0.4, "max_s": 0.5, "verdict": "FAIL"},
    }  # fmt: skip
    text = render(figures)
    assert text.splitlines()[-1] == "ratio_to_limit=1.10 vs_deepeval=0.50 vs_promptfoo=0.67 warm_calls=0"
    assert "- met: cold run ≤ 1.15·limit + 1 s = 12.50 s (11.00 s)" in text
    assert "- met: cold ≤ 0.8× deepeval's wall (11.00 s vs 22.00 s)" in text
    assert "- MISSED: warm run ≤ 1.50 s (1.5 s per 1000 cases) (2.00 s)" in text
    assert "- MISSED: gate ≤ 0.10 s (2 s per 100 000 rows) (0.40 s)" in text
    assert "| ours, warm | 2.00 | 0.20 | 0 | 100 | 900 |  |" in text
    assert "N=10000" not in text  # no scaling run, no scaling targets
    large = {"name": "ours, large", "cases": 10000, "concurrency": 100, "limit_s": 20.0, "wall_s": 21.0,
             "peak_rss_mb": 250, "calls": 10000, "passes": 9000, "expected_passes": 9000}  # fmt: skip
    scaled = render({**figures, "large": large})
    assert "| ours, large (limit 20.00 s) | 21.00 | 1.05 | 10000 | 250 | 9000 | scaling run |" in scaled
    assert "- met: N=10000, C=100 cold ≤ 1.15·limit + 2 s = 25.00 s (21.00 s)" in scaled
    assert "- MISSED: peak RSS grows < 2× from N=1000 (250 MB vs 100 MB, 2.50×)" in scaled
    assert scaled.splitlines()[-1] == text.splitlines()[-1]
    slow = {**figures, "runs": [run("ours, cold", 30.0, 1000), *figures["runs"][1:]]}
    assert "- MISSED: cold ≤ 0.8× deepeval's wall (30.00 s vs 22.00 s)" in render(slow)


@pytest.mark.slow
def test_a_small_benchmark_runs_every_engine_on_the_same_work(tmp_path: Path, promptfoo_modules: Path) -> None:
    workdir = tmp_path / "bench"
    _reuse_promptfoo_install(workdir / "my-chatbot", promptfoo_modules)
    command = [sys.executable, "-m", "tests.benchmarks", "--cases", "120", "--concurrency", "10",
               "--latency-ms", "50", "--gate-repeats", "1", "--large-cases", "300", "--large-concurrency", "30",
               "--workdir", str(workdir)]  # fmt: skip
    proc = subprocess.run(command, cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads((workdir / "results" / "bench.json").read_text(encoding="utf-8"))
    cold, deepeval, promptfoo, warm = figures["runs"]
    for run in (cold, deepeval, promptfoo):
        assert run["calls"] == 120, run  # every engine asked the model for every case, once
    assert warm["calls"] == 0
    assert {run["passes"] for run in figures["runs"]} == {expected_passes(120, "bench-model")}
    assert all(run["peak_rss_mb"] > 30 for run in figures["runs"])
    assert figures["gate"]["verdict"] in ("FAIL", "INCONCLUSIVE") and figures["gate"]["rows"] == 120 * 5
    large = figures["large"]
    assert large["calls"] == 300 and large["passes"] == expected_passes(300, "bench-model")
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio_to_limit=") and " vs_deepeval=" in last and last.endswith(" warm_calls=0")


def _reuse_promptfoo_install(project: Path, node_modules: Path) -> None:
    """The bench keeps an earlier install of the same lock file (as a re-run of `make bench` does): here, the
    one this test run already made."""
    project.mkdir(parents=True)
    (project / "package-lock.json").write_bytes((node_modules.parent / "package-lock.json").read_bytes())
    (project / "node_modules").symlink_to(node_modules)
