"""The results dir survives crashes; the model-call cache replays exactly and never keeps errors."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalharness.calls import ModelCalls, NotEvaluated, RateLimiter, current_repeat
from evalharness.cli import main
from evalharness.results import OUTPUTS_FILE, RESULTS_FILE, ResultsDir, newest
from evalharness.sides import read_side
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
    store.release()  # the run was killed: its lock went with it
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
    first = ResultsDir(tmp_path)
    first.start({"versions": {"config": "aaa"}})
    first.release()
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
    """On a clock of its own (no timing window to flake on a loaded machine): 20 per second, burst of 20."""
    now = [0.0]
    limiter = RateLimiter(per_minute=1200, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    granted = []
    for _ in range(30):
        limiter.acquire()
        granted.append(now[0])
    assert granted[:20] == [0.0] * 20  # the burst goes at once
    gaps = [b - a for a, b in itertools.pairwise(granted[19:])]
    assert all(abs(gap - 0.05) < 1e-9 for gap in gaps)  # then one every 1/20 s
    assert abs(granted[-1] - 0.5) < 1e-9


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


# ---------------------------------------------------------------- a damaged or doubled dir is never judged


def _finished(path: Path, cases: int = 6) -> ResultsDir:
    store = ResultsDir(path)
    store.start({"id": 1})
    for i in range(cases):
        store.append(RESULTS_FILE, {**_unit(f"c{i}", "a"), "metric": "m", "status": "ok", "score": 1.0, "passed": True})
        store.append(OUTPUTS_FILE, {**_unit(f"c{i}", "a"), "status": "ok", "latency_ms": 1.0})
    store.finish({"units": {"ok": cases}})
    return store


def test_a_results_file_cut_mid_line_is_bad_input_naming_the_file_and_line(tmp_path: Path) -> None:
    _finished(tmp_path)
    data = (tmp_path / RESULTS_FILE).read_bytes()
    (tmp_path / RESULTS_FILE).write_bytes(data[: len(data) * 11 // 20])  # in the middle of a line
    with pytest.raises(FileError) as caught:
        read_side(tmp_path)
    assert caught.value.path == tmp_path / RESULTS_FILE and caught.value.problems[0][0] == 4
    assert "the last line is cut off" in str(caught.value)


def test_a_results_file_cut_between_lines_does_not_match_its_record(tmp_path: Path) -> None:
    _finished(tmp_path)
    lines = (tmp_path / OUTPUTS_FILE).read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / OUTPUTS_FILE).write_text("".join(lines[:3]), encoding="utf-8")
    with pytest.raises(FileError, match=r"outputs.jsonl:3: ends after 3 rows .* the run recorded 6 rows"):
        read_side(tmp_path)


def test_doubled_rows_are_an_error_not_data(tmp_path: Path) -> None:
    _finished(tmp_path)
    with open(tmp_path / OUTPUTS_FILE, "a", encoding="utf-8") as handle:  # a second writer's row for c2
        handle.write(json.dumps({**_unit("c2", "b"), "status": "ok", "latency_ms": 1.0}) + "\n")
    with pytest.raises(FileError, match=r"outputs.jsonl:7: duplicate row for s/c2/0 \(first on line 3\)"):
        read_side(tmp_path)


def test_a_summary_that_is_not_json_or_missing_is_named(tmp_path: Path) -> None:
    _finished(tmp_path)
    (tmp_path / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(FileError, match=r"summary.json: not valid JSON"):
        read_side(tmp_path)
    (tmp_path / "summary.json").unlink()
    with pytest.raises(FileError, match=r"summary.json: missing: the run did not finish"):
        read_side(tmp_path)
    assert read_side(tmp_path, finished=False).outputs  # a run in progress can still be looked at


def test_one_writer_at_a_time_and_a_killed_writer_leaves_no_lock(tmp_path: Path) -> None:
    holder = ResultsDir(tmp_path)
    holder.start({"id": 1})
    with pytest.raises(FileError, match=r"another run is writing this results dir \(pid \d+\)"):
        ResultsDir(tmp_path).start({"id": 1})
    holder.release()
    # A process killed while it holds the lock: the kernel drops the lock with the process.
    script = (
        "import sys, time; from evalharness.results import ResultsDir; d = ResultsDir(sys.argv[1]); d.start({'id': 1});"
    )
    script += " print('locked', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(FileError, match="another run"):
            ResultsDir(tmp_path).start({"id": 1})
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        child.kill()
    ResultsDir(tmp_path).start({"id": 1})  # resumed


def test_a_reply_that_fails_validation_is_never_cached_and_a_bad_cached_one_is_asked_again(tmp_path: Path) -> None:
    replies = iter(["not json", '{"score": 7}', '{"score": 8}'])
    asked = []

    def ask() -> dict:
        asked.append(1)
        return {"text": next(replies), "model": "judge"}

    def must_be_json(record: dict) -> None:
        json.loads(record["text"])

    calls = ModelCalls(tmp_path / "c.sqlite")
    with pytest.raises(ValueError):
        calls.call("judge", {"prompt": "p"}, ask, validate=must_be_json)
    assert calls.call("judge", {"prompt": "p"}, ask, validate=must_be_json)["text"] == '{"score": 7}'
    assert calls.call("judge", {"prompt": "p"}, ask, validate=must_be_json)["cached"] is True
    assert len(asked) == 2  # the bad reply was asked again, the good one came from the cache

    # A bad reply that an older version cached is dropped when met, and asked again.
    calls.call("judge", {"prompt": "old"}, lambda: {"text": "garbage", "model": "judge"})
    fresh = calls.call("judge", {"prompt": "old"}, ask, validate=must_be_json)
    assert fresh["cached"] is False and fresh["text"] == '{"score": 8}'


def test_newest_is_the_results_dir_whose_run_ended_last(tmp_path: Path) -> None:
    assert newest(tmp_path / "results") is None
    for age, name in ((300, "demo-baseline"), (100, "select/select-current"), (200, "demo")):
        summary = tmp_path / "results" / name / "summary.json"
        summary.parent.mkdir(parents=True)
        summary.write_text("{}")
        os.utime(summary, (summary.stat().st_mtime - age,) * 2)
    (tmp_path / "results/half-run").mkdir()  # a run still going (no summary yet) is not a candidate
    assert newest(tmp_path / "results") == tmp_path / "results/select/select-current"


def test_report_without_any_results_dir_says_what_to_run(
    eval_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report"]) == 2
    assert "run `make eval` first" in capsys.readouterr().err
