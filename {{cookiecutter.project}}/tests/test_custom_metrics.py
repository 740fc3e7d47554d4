"""Metrics of the user's own (@metric in a module named by eval.yaml's metric_modules), scored and gated
like the built-in ones, without editing the harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalharness.cli import main
from evalharness.datasets import load_dataset
from evalharness.metrics.registry import metric

MODULE = """
from evalharness.metrics.registry import metric
from evalharness.metrics.deterministic import Measure


@metric(kind="score")
def answer_has_steps(case, output):
    return sum(line.strip()[:2] in ("1.", "2.", "3.") for line in output.answer.splitlines()) / 3


@metric("says_password", kind="pass_fail", applies=lambda case: "password" in case.question.lower())
def _(case, output):
    return "password" in output.answer.lower(), "mentions the password"


@metric(kind="score")
def measured_or_not(case, output):
    if "refund" in case.question.lower():
        return None  # not measurable: skipped, with the reason
    return Measure(0.5, "half", {"why": "an example"})


@metric(kind="score")
def out_of_range(case, output):
    return 7
"""


def _use(project: Path, module: str, metrics: list[str]) -> None:
    (project / "evals" / "my_metrics.py").write_text(module, encoding="utf-8")
    config = project / "evals" / "eval.yaml"
    text = config.read_text(encoding="utf-8").replace(
        "metric_modules: [custom_metrics]", "metric_modules: [custom_metrics, my_metrics]"
    )
    text = text.replace("    metrics: [facts, forbidden,", f"    metrics: [{', '.join(metrics)}, facts, forbidden,", 1)
    config.write_text(text, encoding="utf-8")


def _rows(project: Path) -> list[dict]:
    text = (project / "results" / "latest" / "results.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_registered_metrics_are_scored_recorded_and_gated(eval_project: Path) -> None:
    _use(eval_project, MODULE, ["answer_has_steps", "says_password", "measured_or_not", "out_of_range"])
    assert main(["run", "-k", "password or refund"]) == 3  # out_of_range's errors: not a quality verdict
    rows = _rows(eval_project)
    by_metric: dict[str, list[dict]] = {}
    for row in rows:
        by_metric.setdefault(row["metric"], []).append(row)

    assert by_metric["answer_has_steps"] and all(0 <= r["score"] <= 1 for r in by_metric["answer_has_steps"])
    assert {r["kind"] for r in by_metric["says_password"]} == {"pass_fail"}
    # applies(): only the cases whose question is about passwords are scored; a bool is 1 or 0
    questions = {c.id: c.question for c in load_dataset(eval_project / "evals" / "datasets" / "support.yaml").cases}
    ran = {r["case"] for r in rows if r["suite"] == "support"}
    expected = {case for case in ran if "password" in questions[case].lower()}
    assert expected and {r["case"] for r in by_metric["says_password"]} == expected
    assert {r["score"] for r in by_metric["says_password"]} <= {0.0, 1.0}
    statuses = {r["status"] for r in by_metric["measured_or_not"]}
    assert statuses == {"ok", "skipped"}, statuses  # None -> skipped with the reason, a Measure as given
    assert all(r["details"] == {"why": "an example"} for r in by_metric["measured_or_not"] if r["status"] == "ok")
    # a score outside [0, 1] is the check's bug: recorded as an error, never a pass
    assert {r["status"] for r in by_metric["out_of_range"]} == {"error"}
    assert "must be a number in [0, 1]" in by_metric["out_of_range"][0]["reason"]


def test_the_shipped_example_flags_placeholder_text(eval_project: Path) -> None:
    from evalharness.metrics.registry import registered
    from evalharness.settings import load_settings

    settings, _ = load_settings(eval_project / "evals" / "eval.yaml")
    check = registered(settings.metric_modules)["no_placeholders"].check
    answer = lambda text: type("Output", (), {"answer": text})()  # noqa: E731
    assert check(None, answer("Reset it under Settings > Security [1].")) == (1.0, "no placeholder text")
    score, reason = check(None, answer("Hello { { user } }, see <insert link here>. TODO"))  # a prompt's leftovers
    assert score == 0.0 and "{ {" in reason and "<insert link here>" in reason and "TODO" in reason


def test_an_unknown_name_is_refused_with_its_line(eval_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _use(eval_project, MODULE, ["answer_has_stpes"])
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "eval.yaml:" in err and "unknown metric 'answer_has_stpes'" in err and "metric_modules" in err


def test_a_broken_metric_module_is_bad_input(eval_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _use(eval_project, "import no_such_package_here\n", ["facts"])
    assert main(["run"]) == 2
    assert "metric_modules" in capsys.readouterr().err


def test_built_in_names_and_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="built in"):
        metric("facts")(lambda case, output: 1.0)
    with pytest.raises(ValueError, match="kind"):
        metric("mine", kind="percent")  # type: ignore[arg-type]
