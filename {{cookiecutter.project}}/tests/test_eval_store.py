"""The results dir survives crashes; the model-call cache replays exactly and never keeps errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalharness.calls import ModelCalls, NotEvaluated, RateLimiter, current_repeat
from evalharness.results import OUTPUTS_FILE, RESULTS_FILE, ResultsDir
from yamlcheck import FileError


def _unit(case: str, attempt: str) -> dict:
    return {"suite": "s", "case": case, "repeat": 0, "attempt": attempt}


def test_torn_tail_and_unfinished_units_are_ignored(tmp_path: Path) -> None:
    store = ResultsDir(tmp_path)
    store.start({"id": 1})
    store.append(RESULTS_FILE, {**_unit("done", "a1"), "metric": "m", "status": "ok"})
    store.append(OUTPUTS_FILE, {**_unit("done", "a1"), "status": "ok"})
    store.append(RESULTS_FILE, {**_unit("killed", "b1"), "metric": "m", "status": "ok"})  # its output never came
    with open(tmp_path / RESULTS_FILE, "a", encoding="utf-8") as handle:
        handle.write('{"suite": "s", "case": "torn"')  # kill -9 in the middle of a write
    assert [r["case"] for r in store.results()] == ["done"]
    assert store.completed_units() == {("s", "done", 0)}
    ResultsDir(tmp_path).start({"id": 1})  # resuming cuts the torn line so appends stay valid JSON Lines
    assert (tmp_path / RESULTS_FILE).read_text(encoding="utf-8").endswith("}\n")


def test_a_rerun_unit_supersedes_its_earlier_attempt(tmp_path: Path) -> None:
    store = ResultsDir(tmp_path)
    store.start({"id": 1})
    store.append(RESULTS_FILE, {**_unit("c", "old"), "metric": "m", "status": "error"})
    store.append(OUTPUTS_FILE, {**_unit("c", "old"), "status": "error"})
    assert store.completed_units() == set()  # errored units are run again on resume
    store.append(RESULTS_FILE, {**_unit("c", "new"), "metric": "m", "status": "ok"})
    store.append(OUTPUTS_FILE, {**_unit("c", "new"), "status": "ok"})
    assert [(r["attempt"], r["status"]) for r in store.results()] == [("new", "ok")]


def test_results_dir_of_another_run_is_refused(tmp_path: Path) -> None:
    ResultsDir(tmp_path).start({"versions": {"config": "aaa"}})
    with pytest.raises(FileError, match=r"another run \(differs in: versions\)"):
        ResultsDir(tmp_path).start({"versions": {"config": "bbb"}})


def test_cache_replays_and_keys_on_repeat(tmp_path: Path) -> None:
    calls = ModelCalls(tmp_path / "c.sqlite")
    counter = iter(range(100))

    def answer() -> dict:
        return {"text": f"answer {next(counter)}", "model": "m", "usage": {"prompt_tokens": 3, "completion_tokens": 2}}

    first = calls.call("model", {"messages": ["hi"]}, answer)
    again = calls.call("model", {"messages": ["hi"]}, answer)
    assert (first["text"], first["cached"]) == ("answer 0", False)
    assert (again["text"], again["cached"], again["latency_ms"]) == ("answer 0", True, first["latency_ms"])
    token = current_repeat.set(1)
    try:
        assert calls.call("model", {"messages": ["hi"]}, answer)["text"] == "answer 1"  # repeat 1 is its own sample
    finally:
        current_repeat.reset(token)
    assert (calls.stats.live, calls.stats.cached) == (2, 1)
    assert calls.stats.tokens["model:m"] == {"prompt_tokens": 9, "completion_tokens": 6}


def test_errors_are_never_cached(tmp_path: Path) -> None:
    calls = ModelCalls(tmp_path / "c.sqlite")

    def fail() -> dict:
        raise TimeoutError("model hung")

    with pytest.raises(TimeoutError):
        calls.call("model", {"q": 1}, fail)
    assert calls.call("model", {"q": 1}, lambda: {"text": "ok"})["cached"] is False
    assert calls.stats.errors == 1


# One process of several that open a new cache at the same moment (shards, promptfoo's Python workers).
OPEN_AND_WRITE = """
import sys, time
from pathlib import Path
from evalharness.calls import ModelCalls
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
calls = ModelCalls(Path(sys.argv[1]))
for i in range(20):
    calls.call("model", {"q": f"{sys.argv[3]}-{i}"}, lambda: {"text": "ok"})
"""


def test_processes_opening_a_new_cache_together_all_get_it(tmp_path: Path) -> None:
    cache, start = tmp_path / "calls.sqlite", time.time() + 1.5
    workers = [
        subprocess.Popen([sys.executable, "-c", OPEN_AND_WRITE, str(cache), str(start), str(n)], stderr=subprocess.PIPE)
        for n in range(12)
    ]
    errors = [w.communicate(timeout=60)[1].decode() for w in workers]
    assert [w.returncode for w in workers] == [0] * 12, errors
    replay = ModelCalls(cache, mode="replay")
    assert all(replay.call("model", {"q": f"{n}-19"}, lambda: {})["cached"] for n in range(12))


def test_replay_mode_reports_misses_and_refresh_overwrites(tmp_path: Path) -> None:
    ModelCalls(tmp_path / "c.sqlite").call("model", {"q": 1}, lambda: {"text": "old"})
    replay = ModelCalls(tmp_path / "c.sqlite", mode="replay")
    assert replay.call("model", {"q": 1}, lambda: {"text": "never called"})["text"] == "old"
    with pytest.raises(NotEvaluated):
        replay.call("model", {"q": 2}, lambda: {"text": "never called"})
    refresh = ModelCalls(tmp_path / "c.sqlite", mode="refresh")
    assert refresh.call("model", {"q": 1}, lambda: {"text": "new"})["text"] == "new"
    assert ModelCalls(tmp_path / "c.sqlite").call("model", {"q": 1}, lambda: {"text": "x"})["text"] == "new"


def test_rate_limiter_spreads_calls() -> None:
    limiter = RateLimiter(per_minute=1200)  # 20 per second, burst of 20
    started = time.monotonic()
    for _ in range(30):
        limiter.acquire()
    assert 0.4 <= time.monotonic() - started < 2.0  # the 10 calls past the burst wait ~0.5 s


def test_units_run_in_a_seeded_shuffle_after_the_ones_that_must_all_run() -> None:
    from evalharness.datasets import Case
    from evalharness.runner import Unit, run_order

    units = [Unit("s", Case(id=f"c{i}", input="q"), 0) for i in range(50)]
    first = lambda unit: unit.case.id in ("c7", "c3")  # noqa: E731
    order = run_order(units, seed=0, first=first)
    assert [u.case.id for u in order[:2]] == ["c3", "c7"]  # in dataset order, before any other
    assert sorted(u.case.id for u in order) == sorted(u.case.id for u in units)
    assert order == run_order(units, seed=0, first=first)  # the same seed, the same order
    assert order != run_order(units, seed=1, first=first)
    assert [u.case.id for u in order[2:12]] != [f"c{i}" for i in range(10) if i not in (3, 7)][:10]  # shuffled
