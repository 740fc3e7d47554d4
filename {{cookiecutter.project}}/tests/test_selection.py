"""Model selection: candidates.yaml checks, bot.yaml edits, the recommendation rule, and `make select` end
to end against a loopback server that serves models of different quality, latency and price."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evalharness.ci.cli import main as ci_main
from evalharness.datasets import load_dataset
from evalharness.results import OUTPUTS_FILE, RESULTS_FILE, ResultsDir
from evalharness.selection.candidates import candidate_text, deep_merge
from evalharness.selection.leaderboard import build
from evalharness.selection.plot import LABEL_GAP, LABEL_WIDTH, label_positions, plot
from evalharness.selection.render import write_leaderboard
from evalharness.settings import EvalSettings

from tests.conftest import BOT_YAML
from tests.fake_github import FakeGitHub
from tests.fake_openai import Action, FakeOpenAI, Text
from tests.test_ci_release import git, make_repo

SETTINGS = EvalSettings.model_validate(
    {
        "target": "target:make_target",
        "judge": {"model": "judge", "enabled": False},
        "refusal_markers": ["i don't know"],
        "metrics": {"facts": {"tolerance": 0.03, "min_mean": 0.5}},
        "suites": {"s": {"dataset": "d.yaml", "metrics": ["facts"]}},
    }
)
REFUSAL = "I don't know based on the help center; please contact support."


def select(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    environment.pop("BOT_PROVIDER", None)  # the candidates are served by the loopback server
    return subprocess.run(
        [sys.executable, "-m", "evalharness", *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


# ---------------------------------------------------------------- bot.yaml, edited in place


def test_a_candidate_changes_only_its_values_and_keeps_the_comments() -> None:
    base = BOT_YAML.read_text(encoding="utf-8")
    overrides = {"model": "other-model", "retrieval": {"top_k": 6}, "prompt": {"variables": {"t": "x"}}}
    text = candidate_text(base, overrides)
    changed = [(a, b) for a, b in zip(base.splitlines(), text.splitlines(), strict=False) if a != b]
    assert len(text.splitlines()) == len(base.splitlines()) + 1  # the new variable, under its parent
    assert any("top_k: 6" in b and "# passages handed to the model" in b for _, b in changed)
    merged = yaml.safe_load(text)
    assert merged["model"] == "other-model" and merged["retrieval"]["top_k"] == 6
    assert merged["prompt"]["variables"]["t"] == "x" and merged["prompt"]["variables"]["product"]
    assert {k: v for k, v in merged.items() if k not in ("model", "retrieval", "prompt")} == {
        k: v for k, v in yaml.safe_load(base).items() if k not in ("model", "retrieval", "prompt")
    }


@pytest.mark.parametrize(
    ("text", "overrides", "kept"),
    [
        ('prompt: "answer #1" # why\nmodel: x\n', {"prompt": "new"}, "# why"),  # '#' inside quotes
        ("prompt: a#b  # why\nmodel: x\n", {"prompt": "new"}, "# why"),  # '#' inside a plain value
        ("name: 'it''s' # why\n", {"name": "z"}, "# why"),
        ('prompt: "two\n  lines"\nmodel: x\n', {"prompt": "new"}, None),  # multi-line: dumped instead
        ("retrieval: {top_k: 5,\n  min_score: 0.5}\n", {"retrieval": {"min_score": 1}}, None),
        ("model: &m gpt-4o\nother: *m\n", {"model": "y"}, None),  # an anchor: dumped, the alias resolved
        ("m: 1\n", {"a: b": 1}, None),  # a key that needs quotes
    ],
)
def test_odd_layouts_are_edited_or_dumped_never_broken(text: str, overrides: dict, kept: str | None) -> None:
    result = candidate_text(text, overrides)
    assert yaml.safe_load(result) == deep_merge(yaml.safe_load(text), overrides)
    if kept:
        assert kept in result


def test_candidate_names_are_safe_as_branch_and_artifact_names(eval_project: Path) -> None:
    (eval_project / "evals/candidates.yaml").write_text(
        "candidates:\n  gpt-4..1:\n    overrides: {model: x}\n  Big Model:\n    overrides: {model: y}\n", "utf-8"
    )
    result = select(eval_project, "select")
    assert result.returncode == 2
    assert "evals/candidates.yaml:2: candidates.gpt-4..1: use lowercase" in result.stderr
    assert "evals/candidates.yaml:4: candidates.Big Model: use lowercase" in result.stderr


def test_an_unknown_key_or_bad_value_is_reported_at_its_line_in_candidates_yaml(eval_project: Path) -> None:
    (eval_project / "evals/candidates.yaml").write_text(
        "candidates:\n"
        "  typo:\n"
        "    overrides:\n"
        "      retrieval:\n"
        "        top_kk: 3\n"
        "  too-hot:\n"
        "    overrides:\n"
        "      params: {temperature: 5}\n"
        "  current:\n"
        "    overrides: {model: x}\n",
        encoding="utf-8",
    )
    result = select(eval_project, "select")
    assert result.returncode == 2
    assert "evals/candidates.yaml:9: candidates.current: reserved for bot.yaml as committed" in result.stderr
    (eval_project / "evals/candidates.yaml").write_text(
        "candidates:\n  typo:\n    overrides:\n      retrieval:\n        top_kk: 3\n"
        "  too-hot:\n    overrides:\n      params: {temperature: 5}\n",
        encoding="utf-8",
    )
    result = select(eval_project, "select")
    assert result.returncode == 2, result.stderr
    assert "evals/candidates.yaml:5: candidates.typo: retrieval.top_kk: unknown key" in result.stderr
    assert "evals/candidates.yaml:8: candidates.too-hot: params.temperature:" in result.stderr
    assert not (eval_project / "results/select/runs").exists()  # nothing ran


def test_without_a_key_every_run_fails_with_its_reason_and_nothing_is_recommended(eval_project: Path) -> None:
    bot = eval_project / "bot.yaml"
    bot.write_text(candidate_text(bot.read_text("utf-8"), {"provider": "openai"}), "utf-8")
    result = select(eval_project, "select", "--only", "fewer-passages")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "select: current: FAILED (exit 3): error: OPENAI_API_KEY is not set" in result.stderr
    board = json.loads((eval_project / "results/select/leaderboard.json").read_text("utf-8"))
    assert board["recommendation"]["kind"] == "none" and "has usable results" in board["recommendation"]["message"]
    assert all("OPENAI_API_KEY is not set" in row["reasons"][0] for row in board["contestants"])


# ---------------------------------------------------------------- the rule, on hand-made results


def results_dir(path: Path, facts: list[float], *, cost: float | None, latency: float) -> Path:
    store = ResultsDir(path)
    store.start({"test": True})
    for i, score in enumerate(facts):
        base = {"suite": "s", "case": f"c{i:03d}", "repeat": 0, "attempt": "a"}
        row = {"metric": "facts", "kind": "score", "status": "ok", "score": score, "passed": score >= 1.0}
        store.append(RESULTS_FILE, {**base, **row, "threshold": 1.0, "reason": ""})
        output = {"status": "ok", "input": f"q{i}", "answer": "a", "latency_ms": latency, "cost_usd": cost}
        store.append(OUTPUTS_FILE, {**base, **output, "provider": "openai", "model": path.name})
    store.finish({})
    return path


def board(tmp_path: Path, contestants: dict[str, tuple[list[float], float | None]]) -> dict:
    runs = {
        name: results_dir(tmp_path / name, facts, cost=cost, latency=100 + 10 * i)
        for i, (name, (facts, cost)) in enumerate(contestants.items())
    }
    return build(SETTINGS, runs, {})


GOOD = [1.0] * 200
ALMOST = [0.0] * 3 + [1.0] * 37  # 40 cases: 3 misses


def test_the_cheapest_contestant_as_good_as_the_best_is_recommended(tmp_path: Path) -> None:
    weak = [0.0, 1.0] * 100
    result = board(tmp_path, {"current": (GOOD, 0.002), "cheap": (GOOD, 0.0005), "weak": (weak, 0.0001)})
    assert result["recommendation"]["kind"] == "switch" and result["recommendation"]["name"] == "cheap"
    assert [r["name"] for r in result["contestants"]] == ["cheap", "current", "weak"]
    statuses = {r["name"]: r["status"] for r in result["contestants"]}
    assert statuses == {"cheap": "top", "current": "top", "weak": "worse"}
    cheap = next(r for r in result["contestants"] if r["name"] == "cheap")
    assert cheap["cost_per_1000"] == pytest.approx(0.5) and cheap["vs_current"]["verdict"] == "PASS"


def test_keep_bot_yaml_when_it_is_the_cheapest_of_the_best(tmp_path: Path) -> None:
    result = board(tmp_path, {"current": (GOOD, 0.001), "pricey": (GOOD, 0.01)})
    assert result["recommendation"]["kind"] == "keep" and result["recommendation"]["name"] == "current"


def test_a_cheaper_contestant_the_data_cannot_place_makes_a_tie_with_the_cases_needed(tmp_path: Path) -> None:
    result = board(tmp_path, {"current": (GOOD[:40], 0.002), "almost": (ALMOST, 0.0005)})
    recommendation = result["recommendation"]
    assert recommendation["kind"] == "tie", recommendation
    assert set(recommendation["contenders"]) == {"current", "almost"}
    assert recommendation["more_cases"] and recommendation["more_cases"] > 0
    assert "more cases would tell" in recommendation["message"]
    almost = next(r for r in result["contestants"] if r["name"] == "almost")
    assert almost["status"] == "undecided" and almost["vs_leader"]["metrics"][0]["verdict"] == "INCONCLUSIVE"


def test_equal_quality_at_equal_cost_is_a_tie_that_keeps_bot_yaml(tmp_path: Path) -> None:
    result = board(tmp_path, {"current": (GOOD, 0.001), "twin": (GOOD, 0.001)})
    assert result["recommendation"]["kind"] == "tie"
    assert "Keep bot.yaml" in result["recommendation"]["message"]


def test_an_unknown_price_makes_a_tie_that_names_it(tmp_path: Path) -> None:
    result = board(tmp_path, {"current": (GOOD, 0.002), "local": (GOOD, None)})
    assert result["recommendation"]["kind"] == "tie"
    assert "No price for local" in result["recommendation"]["message"]


def test_a_contestant_without_results_or_with_missing_cases_is_failed_not_dropped(tmp_path: Path) -> None:
    runs = {
        "current": results_dir(tmp_path / "current", GOOD, cost=0.002, latency=100),
        "cut": results_dir(tmp_path / "cut", GOOD[:150], cost=0.0005, latency=100),  # a run cut short
        "gone": tmp_path / "never-uploaded",
    }
    result = build(SETTINGS, runs, {})
    rows = {r["name"]: r for r in result["contestants"]}
    assert rows["gone"]["status"] == "error" and "no results" in rows["gone"]["reasons"][0]
    assert rows["cut"]["status"] == "error" and rows["cut"]["reasons"] == ["evaluated 150 of 200 cases"]
    assert result["recommendation"]["kind"] == "keep"
    assert result["contestants"][0]["name"] == "current"


def test_a_contestant_below_an_absolute_bar_is_never_recommended(tmp_path: Path) -> None:
    result = board(tmp_path, {"current": (GOOD, 0.002), "free": ([0.0] * 150 + [1.0] * 50, 0.0)})
    free = next(r for r in result["contestants"] if r["name"] == "free")
    assert free["status"] == "disqualified" and "facts mean" in free["reasons"][0]
    assert result["recommendation"]["name"] == "current"


# ---------------------------------------------------------------- make select, end to end


def models_by_quality(project: Path, misses: dict[str, int], delays: dict[str, float]) -> object:
    """A loopback server whose models answer the support cases right, except each model's first `misses[model]`
    cases (by id), where it declines; it declines every question it does not know (probes, off-topic)."""
    cases = load_dataset(project / "evals/datasets/support.yaml").cases
    answers = {}
    for case in cases:
        question = case.input or case.messages[-1].content
        answers[question] = (case.id, " ".join(f"{fact} [1]." for fact in case.expect.facts) or REFUSAL)
    ordered = sorted(case.id for case in cases if case.expect.facts)

    def reply(body: dict) -> Action:
        model = body["model"]
        case_id, answer = answers.get(body["messages"][-1]["content"], (None, REFUSAL))
        if case_id in ordered[: misses.get(model, 0)]:
            answer = REFUSAL
        return Text(answer, delay_s=delays.get(model, 0.0))

    return reply


def use_candidates(project: Path, candidates: dict[str, dict]) -> None:
    bot = project / "bot.yaml"
    bot.write_text(candidate_text(bot.read_text("utf-8"), {"provider": "openai", "model": "big-model"}), "utf-8")
    eval_yaml = project / "evals/eval.yaml"
    settings = yaml.safe_load(eval_yaml.read_text("utf-8"))
    settings["prices"] = {"big-model": {"input": 5.0, "output": 15.0}}
    settings["judge"]["enabled"] = False  # the key is the loopback server's: no judge there
    settings["requests_per_minute"] = 100_000  # a loopback server needs no protecting: do not wait for it
    eval_yaml.write_text(yaml.safe_dump(settings, sort_keys=False), "utf-8")
    (project / "evals/candidates.yaml").write_text(yaml.safe_dump({"candidates": candidates}), "utf-8")


@pytest.mark.slow
def test_make_select_ranks_models_by_quality_and_price_and_reports_a_tie(eval_project: Path) -> None:
    use_candidates(
        eval_project,
        {
            "small": {"price": {"input": 0.1, "output": 0.4}, "overrides": {"model": "small-model"}},
            "tiny": {"price": {"input": 0.01, "output": 0.04}, "overrides": {"model": "tiny-model"}},
            "almost": {"price": {"input": 0.05, "output": 0.2}, "overrides": {"model": "almost-model"}},
        },
    )
    # almost: 5 misses of about 230, right at the 2% tolerance: the data cannot place it
    misses = {"big-model": 0, "small-model": 0, "tiny-model": 20, "almost-model": 5}
    delays = {"big-model": 0.05, "small-model": 0.01}
    with FakeOpenAI(default=models_by_quality(eval_project, misses, delays)) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        first = select(eval_project, "select", "--only", "small,tiny", **env)
        assert first.returncode == 0, first.stdout + first.stderr
        calls_first = len(server.requests)
        second = select(eval_project, "select", "--only", "small,almost", **env)
        assert second.returncode == 0, second.stdout + second.stderr
        calls_second = len(server.requests) - calls_first

    out = eval_project / "results/select"
    result = json.loads((out / "leaderboard.json").read_text("utf-8"))  # the second run's
    assert result["recommendation"]["kind"] == "tie", result["recommendation"]
    assert set(result["recommendation"]["contenders"]) == {"small", "almost"}
    assert "more cases would tell" in result["recommendation"]["message"]
    # bot.yaml and "small" were answered the first time: only "almost" called the model now.
    assert 0 < calls_second < calls_first
    models = {r["name"]: r for r in result["contestants"]}
    assert models["current"]["cost_per_1000"] > models["small"]["cost_per_1000"] > models["almost"]["cost_per_1000"]
    assert models["current"]["latency_ms"]["p50"] > models["small"]["latency_ms"]["p50"]

    first_board = first.stdout
    assert "## Model selection: SWITCH" in first_board and "Switch to small" in first_board
    # The first run's verdicts, as its markdown showed them: tiny (20 misses) ranked last, as worse or disqualified.
    rows = [line for line in first_board.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[2].strip() for row in rows] == ["small", "current", "tiny"]
    assert "Against bot.yaml" in first_board
    html = (out / "leaderboard.html").read_text("utf-8")
    assert "<svg" in html and "quality against cost" in html and "almost" in html
    for name in ("current", "small", "almost"):
        summary = json.loads((out / "runs" / name / "summary.json").read_text("utf-8"))
        assert summary["model_calls"]["errors"] == 0
    assert (out / "runs/almost/almost.bot.yaml").is_file()  # the evaluated config, kept with its results

    switched = select(eval_project, "switch", "--candidate", "small")
    assert switched.returncode == 0, switched.stderr
    assert yaml.safe_load((eval_project / "bot.yaml").read_text("utf-8"))["model"] == "small-model"


def _points_and_labels(svg: str) -> tuple[list[float], list[tuple[float, float]]]:
    circles = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    labels = [(float(x), float(y)) for x, y in re.findall(r'<text x="([\d.]+)" y="([\d.]+)" class="label">', svg)]
    return circles, labels


def test_the_plot_stays_readable_when_contestants_tie_and_cost_nothing(tmp_path: Path) -> None:
    """Offline every answer costs $0 and equal runs score the same: the points must not stack on one line."""
    tied = board(tmp_path, {name: (GOOD, 0.0) for name in ("current", "twin", "triplet", "quad")})
    svg = plot(tied)
    circles, labels = _points_and_labels(svg)
    assert len(set(circles)) == 4, svg  # spread along x, best first
    assert "all equal (0): cost per 1000 questions (USD); best quality first" in svg
    for i, (x1, y1) in enumerate(labels):  # no two labels that share a column overprint each other
        assert all(abs(x1 - x2) >= LABEL_WIDTH or abs(y1 - y2) >= LABEL_GAP for x2, y2 in labels[i + 1 :]), labels


def test_labels_of_points_that_land_together_are_moved_apart() -> None:
    placed = label_positions([(100.0, 50.0), (100.0, 50.0), (102.0, 51.0), (400.0, 50.0)])
    assert placed[0] == (110.0, 54.0) and placed[3] == (410.0, 54.0)  # alone in its column: where it belongs
    ys = sorted(y for x, y in placed[:3])
    assert all(b - a >= LABEL_GAP for a, b in itertools.pairwise(ys))


# ---------------------------------------------------------------- the switch PR


def test_the_switch_pr_changes_only_bot_yaml_on_a_new_branch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    (work / "bot.yaml").write_text(BOT_YAML.read_text("utf-8"), "utf-8")
    (work / "evals").mkdir()
    (work / "evals/candidates.yaml").write_text("candidates:\n  small:\n    overrides: {model: small-model}\n", "utf-8")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "project")
    base = git(work, "rev-parse", "HEAD")
    (tmp_path / "runs").mkdir()
    write_leaderboard(
        tmp_path / "select", board(tmp_path / "runs", {"current": (GOOD, 0.002), "small": (GOOD, 0.0005)})
    )
    with FakeGitHub(repo="acme/bot") as github:
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/bot")
        monkeypatch.setenv("GITHUB_API_URL", github.base_url)
        monkeypatch.setenv("GITHUB_TOKEN", github.token)
        monkeypatch.setenv("GITHUB_RUN_ID", "42")
        code = ci_main(["select-pr", "--leaderboard", str(tmp_path / "select/leaderboard.json"), "--repo", str(work)])
        assert code == 0
        pull = github.pulls[1]
    assert pull["head"]["ref"] == "model-selection/small-42" and pull["title"] == "Switch the model version to small"
    assert "## Model selection: SWITCH" in pull["body"]
    assert git(remote, "diff", "--name-only", base, "model-selection/small-42") == "bot.yaml"
    switched = yaml.safe_load(git(remote, "show", "model-selection/small-42:bot.yaml"))
    assert switched["model"] == "small-model"
