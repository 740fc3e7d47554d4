"""Bad eval inputs stop `make eval` with exit 2 and `path:line`, before any result is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalharness.cli import main

DATASET = "evals/datasets/support.yaml"
CONFIG = "evals/eval.yaml"


def _edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _run_expecting(project: Path, code: int, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["run"]) == code
    assert not (project / "results").exists(), "no half-written results"
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        (
            DATASET,
            "    tags: [in-scope, account-and-login]",
            "    colour: blue",
            "cases.0.colour: unknown key",
        ),
        (DATASET, "      refuse: false", "      refuse: sometimes", "cases.0.expect.refuse"),
        (
            DATASET,
            "  - id: account-lockout",
            "  - id: password-reset-link-expiry",
            "cases[1].id: duplicate id",
        ),
        (
            DATASET,
            "sources: [account-and-login.md]",
            "sources: [no-such-doc.md]",
            "cases[0].expect.sources",
        ),
        (
            DATASET,
            "    tags: [in-scope, account-and-login]",
            "    thresholds: {facts: 1.5}",
            "cases.0.thresholds.facts",
        ),
        (
            CONFIG,
            "  facts:         {tolerance: 0.02,",
            "  facts:         {tolerance: -0.1,",
            "metrics.facts.tolerance",
        ),
        (
            CONFIG,
            "threshold: 1.0, min_mean: 0.5}",
            "threshold: 2.0, min_mean: 0.5}",
            "metrics.facts.threshold",
        ),
        (CONFIG, "concurrency: 8 ", "concurrency: many ", "concurrency"),
        (CONFIG, "    metrics: [security,", "    metrics: [securty,", "suites.probes: unknown metric 'securty'"),
        (CONFIG, "  forbidden:     {", "  forbiden:     {", "metrics: unknown metric 'forbiden'"),
        (
            DATASET,
            "    tags: [in-scope, account-and-login]",
            "    thresholds: {security: 0.5}",
            "cases[0].thresholds: 'security' is not a metric of this suite",
        ),
        (
            CONFIG,
            "    dataset: datasets/support.yaml",
            "    dataset: datasets/missing.yaml",
            "suites.support.dataset",
        ),
    ],
)
def test_bad_input_exits_2_with_location(
    eval_project: Path, capsys: pytest.CaptureFixture[str], name: str, old: str, new: str, message: str
) -> None:
    line = _line_of(eval_project / name, old)  # the edit lands on this line: the error must point at it
    _edit(eval_project, name, old, new)
    err = _run_expecting(eval_project, 2, capsys)
    assert f"{Path(name).name}:{line}: {message}" in err, err


def test_invalid_yaml_points_at_where_the_parser_gave_up(
    eval_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _line_of(eval_project / DATASET, '    input: "How long is the password')
    _edit(eval_project, DATASET, '    input: "How long is the password', '    input: ["How long is the password')
    # The unclosed list is only found out on the next line.
    assert f"support.yaml:{line + 1}: invalid YAML" in _run_expecting(eval_project, 2, capsys)


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_empty_dataset(eval_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (eval_project / DATASET).write_text("description: nothing yet\ncases: []\n", encoding="utf-8")
    assert "support.yaml:2: cases: the dataset is empty" in _run_expecting(eval_project, 2, capsys)


def test_github_annotations_under_actions(
    eval_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    _edit(eval_project, DATASET, "      refuse: false", "      refuse: sometimes")
    err = _run_expecting(eval_project, 2, capsys)
    assert f"::error file=evals/datasets/support.yaml,line={_line_of(eval_project / DATASET, 'sometimes')}::" in err


def test_missing_knowledge_folder_is_bad_input(eval_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(eval_project, "bot.yaml", "  knowledge_dir: knowledge", "  knowledge_dir: knowledge-gone")
    assert "bot.yaml:24: retrieval.knowledge_dir: no such folder" in _run_expecting(eval_project, 2, capsys)


def test_live_run_without_key_is_infrastructure_exit_3(
    eval_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_PROVIDER")  # bot.yaml says openai, and no OPENAI_API_KEY is set
    err = _run_expecting(eval_project, 3, capsys)
    assert "OPENAI_API_KEY is not set" in err


def test_bad_shard_argument(
    eval_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVAL_SHARD", "3/2")
    assert "SHARD='3/2'" in _run_expecting(eval_project, 2, capsys)
