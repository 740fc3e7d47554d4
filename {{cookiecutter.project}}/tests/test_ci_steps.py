"""The workflow steps that are Python (src/evalharness/ci/steps.py, run as `evalharness ci STEP`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalharness.ci.cli import main
from evalharness.ci.steps import merge_shards, needs_passed, shard_list

from tests.test_gate import good, results_dir


def test_shard_list() -> None:
    assert shard_list(1) == [{"index": 1, "spec": "1/1"}]
    assert [s["spec"] for s in shard_list(3)] == ["1/3", "2/3", "3/3"]
    with pytest.raises(ValueError):
        shard_list(0)


def test_shards_step_writes_a_json_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("EVAL_SHARD_COUNT", "2")
    monkeypatch.chdir(tmp_path)  # a project without promptfoo: no package-lock.json
    assert main(["shards"]) == 0
    shards = 'shards=[{"index": 1, "spec": "1/2"}, {"index": 2, "spec": "2/2"}]\n'
    assert output.read_text() == shards + "promptfoo=false\n"
    output.unlink()
    (tmp_path / "package-lock.json").write_text("{}")
    assert main(["shards"]) == 0
    assert output.read_text() == shards + "promptfoo=true\n"


@pytest.mark.parametrize(
    ("needs", "ok"),
    [
        ({"live": {"result": "success"}, "fork": {"result": "skipped"}}, True),
        ({"live": {"result": "skipped"}, "fork": {"result": "success"}}, True),
        ({"live": {"result": "failure"}, "fork": {"result": "skipped"}}, False),
        ({"live": {"result": "cancelled"}, "fork": {"result": "skipped"}}, False),
        ({"live": {"result": "skipped"}, "fork": {"result": "skipped"}}, False),  # nothing ran: not a pass
    ],
)
def test_aggregate_check(needs: dict, ok: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert needs_passed(needs)[0] is ok
    monkeypatch.setenv("EVAL_NEEDS", json.dumps(needs))
    assert main(["needs"]) == (0 if ok else 1)


def test_merge_shards_copies_one_and_merges_several(tmp_path: Path) -> None:
    one = tmp_path / "one"
    results_dir(one / "eval-head-0", good(4))
    assert (merge_shards(one, tmp_path / "single") / "results.jsonl").is_file()
    several = tmp_path / "several"
    results_dir(several / "eval-head-0", {"a": (1.0, 1.0)})
    results_dir(several / "eval-head-1", {"b": (0.0, 1.0)})
    merged = merge_shards(several, tmp_path / "merged")
    assert json.loads((merged / "summary.json").read_text())["cases"] == 2
    with pytest.raises(ValueError, match="no shard results"):
        merge_shards(tmp_path / "empty", tmp_path / "x")


def test_gate_step_sets_outputs_and_pr_info(eval_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = results_dir(eval_project / "results/head", good())
    base = results_dir(eval_project / "results/base", good())
    output = eval_project / "github-output"
    for name, value in {
        "GITHUB_OUTPUT": str(output),
        "EVAL_RESULTS": str(head),
        "EVAL_BASELINE": str(base),
        "EVAL_GATE_MODE": "pr",
        "EVAL_PR_NUMBER": "7",
        "EVAL_HEAD_SHA": "a" * 40,
    }.items():
        monkeypatch.setenv(name, value)
    code = main(["gate"])
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    verdict = json.loads((head / "verdict.json").read_text())
    assert outputs == {"verdict": verdict["verdict"], "exit-code": str(code)}
    assert json.loads((head / "pr.json").read_text()) == {"number": 7, "head_sha": "a" * 40}


@pytest.mark.parametrize(
    ("step", "variables"),
    [("shards", {"EVAL_SHARD_COUNT": "2"}), ("needs", {"EVAL_NEEDS": '{"eval": {"result": "success"}}'})],
)
def test_steps_before_install_need_only_the_standard_library(step: str, variables: dict, tmp_path: Path) -> None:
    """The workflow runs these before `uv sync`: `python -S` sees no installed package at all."""
    source = Path(__file__).resolve().parent.parent / "src"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(source), **variables}
    done = subprocess.run(
        [sys.executable, "-S", "-m", "evalharness", "ci", step], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
