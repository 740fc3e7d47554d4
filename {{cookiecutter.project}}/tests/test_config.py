"""bot.yaml validation: every mistake is reported as `bot.yaml:LINE: message`, never silently defaulted."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package }}.config import load_config
from {{ cookiecutter.package }}.errors import FileError

from tests.conftest import BOT_YAML


def test_shipped_bot_yaml_is_valid() -> None:
    config = load_config(BOT_YAML)
    assert config.model
    assert config.system_prompt_path.is_file()
    assert set(config.hashes) == {"config", "prompt", "knowledge"}
    assert all(len(h) == 64 for h in config.hashes.values())


def test_bot_config_env_var_selects_the_file(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_CONFIG", str(project_copy / "bot.yaml"))
    assert load_config().root == project_copy


def _write(folder: Path, text: str) -> Path:
    path = folder / "bot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """provider: offline
model: some-model
params:
  temperature: 0.2
retrieval:
  top_k: 3
"""


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (BASE.replace("temperature: 0.2", "temperature: 5"), 4, "params.temperature"),
        (BASE.replace("top_k: 3", "top_k: many"), 6, "retrieval.top_k"),
        (BASE.replace("top_k: 3", "top_c: 3"), 6, "unknown key"),
        (BASE.replace("provider: offline", "provider: anthropic"), 1, "provider"),
        (BASE.replace("model: some-model\n", ""), 1, "model: required key is missing"),
        (BASE + "retrieval2: {}\n", 7, "retrieval2: unknown key"),
        (BASE.replace("top_k: 3", "top_k: 3\n  chunk_words: 50\n  chunk_overlap: 50"), 5, "chunk_overlap"),
        (BASE.replace("  temperature: 0.2", "  temperature: [0.2"), 5, "invalid YAML"),
        ("- just\n- a list\n", 1, "valid dictionary"),
    ],
)
def test_bad_values_name_the_line(project_copy: Path, text: str, line: int, fragment: str) -> None:
    path = _write(project_copy, text)
    with pytest.raises(FileError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"bot.yaml:{line}: " in message, message
    assert fragment in message
    assert caught.value.exit_code == 2


def test_all_problems_are_reported_at_once(project_copy: Path) -> None:
    path = _write(project_copy, BASE.replace("temperature: 0.2", "temperature: -1").replace("top_k: 3", "top_k: -2"))
    with pytest.raises(FileError) as caught:
        load_config(path)
    assert [line for line, _ in caught.value.problems] == [4, 6]


def test_missing_prompt_file_points_at_its_key(project_copy: Path) -> None:
    path = _write(project_copy, BASE + "prompt:\n  system: prompts/nope.j2\n")
    with pytest.raises(FileError, match=r"bot.yaml:8: prompt.system: no such file"):
        load_config(path)


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="file not found"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "bot.yaml").write_bytes(b"model: \xff\xfe\n")
    with pytest.raises(FileError, match="not UTF-8"):
        load_config(tmp_path / "bot.yaml")


def test_github_annotation_format(project_copy: Path) -> None:
    path = _write(project_copy, BASE.replace("top_k: 3", "top_k: -1"))
    with pytest.raises(FileError) as caught:
        load_config(path)
    annotation = caught.value.github_annotations()
    assert annotation.startswith("::error file=")
    assert ",line=6::retrieval.top_k" in annotation


def test_hashes_change_with_content(project_copy: Path) -> None:
    before = load_config(project_copy / "bot.yaml").hashes
    (project_copy / "knowledge" / "extra.md").write_text("# Extra\n\nNew fact.\n", encoding="utf-8")
    after = load_config(project_copy / "bot.yaml").hashes
    assert before["knowledge"] != after["knowledge"]
    assert before["config"] == after["config"] and before["prompt"] == after["prompt"]
