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
    ("name", "old", "new", "expected"),
    [
        (
            DATASET,
            '    input: "How long is the password',
            '    input: ["How long is the password',
            "support.yaml:15: invalid YAML",
        ),
        (
            DATASET,
            "    tags: [in-scope, account-and-login]",
            "    colour: blue",
            "support.yaml:19: cases.0.colour: unknown key",
        ),
        (DATASET, "      refuse: false", "      refuse: sometimes", "support.yaml:18: cases.0.expect.refuse"),
        (
            DATASET,
            "  - id: account-lockout",
            "  - id: password-reset-link-expiry",
            "support.yaml:20: cases[1].id: duplicate id",
        ),
        (
            DATASET,
            "sources: [account-and-login.md]",
            "sources: [no-such-doc.md]",
            "support.yaml:17: cases[0].expect.sources",
        ),
        (
            DATASET,
            "    tags: [in-scope, account-and-login]",
            "    thresholds: {facts: 1.5}",
            "support.yaml:19: cases.0.thresholds.facts",
        ),
        (
            CONFIG,
            "  facts:         {tolerance: 0.03,",
            "  facts:         {tolerance: -0.1,",
            "eval.yaml:41: metrics.facts.tolerance",
        ),
        (
            CONFIG,
            "threshold: 1.0, min_mean: 0.5}",
            "threshold: 2.0, min_mean: 0.5}",
            "eval.yaml:41: metrics.facts.threshold",
        ),
        (CONFIG, "concurrency: 8 ", "concurrency: many ", "eval.yaml:7: concurrency"),
        (
            CONFIG,
            "    dataset: datasets/support.yaml",
            "    dataset: datasets/missing.yaml",
            "eval.yaml:55: suites.support.dataset",
        ),
    ],
)
def test_bad_input_exits_2_with_location(
    eval_project: Path, capsys: pytest.CaptureFixture[str], name: str, old: str, new: str, expected: str
) -> None:
    _edit(eval_project, name, old, new)
    err = _run_expecting(eval_project, 2, capsys)
    assert expected in err, err


def test_empty_dataset(eval_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (eval_project / DATASET).write_text("description: nothing yet\ncases: []\n", encoding="utf-8")
    assert "support.yaml:2: cases: the dataset is empty" in _run_expecting(eval_project, 2, capsys)


def test_github_annotations_under_actions(
    eval_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    _edit(eval_project, DATASET, "      refuse: false", "      refuse: sometimes")
    err = _run_expecting(eval_project, 2, capsys)
    assert "::error file=evals/datasets/support.yaml,line=18::" in err


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
    monkeypatch.setenv("SHARD", "3/2")
    assert "SHARD='3/2'" in _run_expecting(eval_project, 2, capsys)
