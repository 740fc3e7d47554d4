"""Hooks: rendered and imported as cookiecutter would run them, then exercised end to end through the real CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
HOOKS_DIR = TEMPLATE_DIR / "hooks"
GH = "${{"  # opens a GitHub Actions expression


def answers_context(**overrides: str) -> dict:
    """The context hooks see: cookiecutter.json defaults, overrides applied and derived defaults rendered, as the CLI
    does, plus the keys cookiecutter adds itself (including the machine-specific ones the replay file must drop)."""
    context = generate_context(context_file=str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=overrides)
    answers = dict(prompt_for_config(context, no_input=True))
    answers.update(_template=str(TEMPLATE_DIR), _output_dir="/tmp/out", _repo_dir=str(TEMPLATE_DIR), _checkout=None)
    return {"cookiecutter": answers}


def plain_answers(context: dict) -> dict:
    return {key: value for key, value in context["cookiecutter"].items() if not key.startswith("_")}


@pytest.fixture
def render_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`render_hook(name, context)` → the hook module, rendered by cookiecutter's Jinja environment and imported."""

    def _render(name: str, context: dict):
        env = StrictEnvironment(context=context, keep_trailing_newline=True)
        path = tmp_path / f"rendered_{name}.py"
        path.write_text(env.from_string((HOOKS_DIR / f"{name}.py").read_text("utf-8")).render(**context), "utf-8")
        spec = importlib.util.spec_from_file_location(f"rendered_{name}", path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while importing
        spec.loader.exec_module(module)
        return module

    return _render


@pytest.fixture
def pre_gen(render_hook):
    return render_hook("pre_gen_project", answers_context())


# (field, value, part of the message). All reach the hook through `cookiecutter --no-input ... field=value`.
BAD_ANSWERS = [
    pytest.param("project", "my bot", 'contains " "', id="project-space"),
    pytest.param("project", "1bot", "does not start with a letter", id="project-leading-digit"),
    pytest.param("project", "My-Bot", 'contains "M"', id="project-uppercase"),
    pytest.param("project", "café-bot", "non-ASCII", id="project-non-ascii"),
    pytest.param("project", "a" * 51, "51 characters", id="project-too-long"),
    pytest.param("project", "../escape", 'contains "."', id="project-parent-dir"),
    pytest.param("project", "my--bot", "next to another hyphen", id="project-double-hyphen"),
    pytest.param("package", "class", "is a Python keyword; use a lowercase identifier", id="package-keyword"),
    pytest.param("package", "match", "Python keyword", id="package-soft-keyword"),
    pytest.param("package", "json", "standard library", id="package-stdlib-json"),
    pytest.param("package", "email", "standard library", id="package-stdlib-email"),
    pytest.param("package", "openai", "dependency", id="package-dependency"),
    *(
        pytest.param("package", name, "a package the project ships under src/", id=f"package-{name}")
        for name in ("evalharness", "observability", "yamlcheck")
    ),
    pytest.param("package", "my-bot", 'contains "-"', id="package-hyphen"),
    pytest.param("package", "2bot", "does not start with a letter", id="package-leading-digit"),
    pytest.param("project_name", 'Say "hi"', "double quote", id="name-double-quote"),
    pytest.param("project_name", "   ", "is empty", id="name-blank"),
    pytest.param("description", "line one\nline two", "line break", id="description-newline"),
    pytest.param("description", "tab\there", "control character", id="description-tab"),
    pytest.param("description", "C:\\bots", "backslash", id="description-backslash"),
    pytest.param("description", "x" * 201, "201 characters", id="description-too-long"),
    # The CLI renders answers with Jinja, so a literal GitHub expression only gets through wrapped in raw tags.
    pytest.param(
        "description", "{% raw %}" + GH + " secrets.TOKEN }}{% endraw %}", "GitHub expressions are not allowed", id="gh"
    ),
    pytest.param("author", "", "is empty", id="author-empty"),
    pytest.param("author", "evil\u202etxt.exe", "control character", id="author-bidi-override"),
    pytest.param("model", "org/../secret", "'..' path part", id="model-parent-dir"),
    pytest.param("model", "/models/x", "does not start with a letter or digit", id="model-leading-slash"),
    pytest.param("model", "modèle-7b", "non-ASCII", id="model-non-ascii"),
    pytest.param("model", "gpt 4", 'contains " "', id="model-space"),
    pytest.param("judge_model", "", "is empty", id="judge-empty"),
    pytest.param("judge_model", 'gpt"4', 'contains "\\""', id="judge-quote"),
    pytest.param("langsmith_project", "team/bot", 'contains "/"', id="langsmith-slash"),
    pytest.param("langsmith_project", "my bot ", "ends with a space", id="langsmith-trailing-space"),
    pytest.param("model_tag_prefix", "model v", 'contains " "', id="tag-space"),
    pytest.param("model_tag_prefix", "model..v", "git refuses because it contains '..'", id="tag-dotdot"),
    pytest.param("model_tag_prefix", "-v", "does not start with a letter", id="tag-leading-hyphen"),
    pytest.param("model_tag_prefix", ".v", "does not start with a letter", id="tag-leading-dot"),
    pytest.param("model_tag_prefix", "/v", "does not start with a letter", id="tag-leading-slash"),
    pytest.param("model_tag_prefix", "bot//", "empty /-separated part", id="tag-double-slash"),
    pytest.param("model_tag_prefix", "x.lock/", "'.lock'", id="tag-lock"),
    pytest.param("model_tag_prefix", "bot/.v", "starting with '.'", id="tag-dot-part"),
    *(
        pytest.param("model_tag_prefix", f"model{ch}v", f"contains {json.dumps(ch)}", id=f"tag-{ch}")
        for ch in "~^:?*[\\"
    ),
]

# Only a replay file (or a hand-edited one) can carry these: the CLI refuses unknown choices and renders `{{ }}` itself.
BAD_REPLAY_ANSWERS = [
    pytest.param("python_version", "3.10", "use one of 3.11, 3.12, 3.13", id="python-version"),
    pytest.param("http_api", "maybe", "use one of yes, no", id="http-api"),
    pytest.param("promptfoo", "sometimes", "use one of yes, no", id="promptfoo"),
    pytest.param("description", GH + " secrets.TOKEN }}", "GitHub expressions are not allowed", id="gh-expression"),
    pytest.param("project_name", "{{ cookiecutter.project }}", "Jinja template marker", id="jinja-marker"),
]

GOOD_VALUES = [
    ("author", "Zoë Ünal"),
    ("author", "O'Brien & Co."),
    ("description", "Answers questions 🤖 — fast"),
    ("model", "meta-llama/Llama-3-8B"),
    ("model", "llama3.1:8b"),
    ("judge_model", "org/model@rev"),
    ("langsmith_project", "Acme Help Desk"),
    *(("model_tag_prefix", prefix) for prefix in ("model-v", "v", "bot/", "release/model-v", "v.")),
]

GOOD_BAKES = {
    "custom": {
        "project": "acme-help-desk",
        "package": "acme_helpdesk",
        "author": "Zoë Ünal",
        "description": "Answers O'Brien & Co.'s customers 🤖",
        "model": "meta-llama/Llama-3-8B",
        "judge_model": "org/model@rev",
        "model_tag_prefix": "bot/",
        "python_version": "3.13",
        "http_api": "no",
    },
    "ollama": {"model": "llama3.1:8b", "model_tag_prefix": "release/model-v", "langsmith_project": "Support Bot"},
}


def test_default_answers_are_valid(pre_gen) -> None:
    assert pre_gen.ANSWERS["package"] == pre_gen.ANSWERS["project"].replace("-", "_")
    assert pre_gen.validate(pre_gen.ANSWERS) == []


COOKIECUTTER_JSON = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text("utf-8"))
QUESTIONS = {key: value for key, value in COOKIECUTTER_JSON.items() if not key.startswith("_")}
CHOICE_FIELDS = sorted(field for field, value in QUESTIONS.items() if isinstance(value, list))


def test_every_question_of_cookiecutter_json_is_checked(pre_gen) -> None:
    assert tuple(QUESTIONS) == pre_gen.FIELDS
    assert CHOICE_FIELDS and sorted(pre_gen.CHOICES) == CHOICE_FIELDS


@pytest.mark.parametrize("field", CHOICE_FIELDS)
def test_every_choice_is_validated_against_cookiecutter_json(pre_gen, field: str) -> None:
    for value in QUESTIONS[field]:
        assert pre_gen.validate({**pre_gen.ANSWERS, field: value}) == [], value
    errors = pre_gen.validate({**pre_gen.ANSWERS, field: "not-a-choice"})
    assert errors == [f'{field}: "not-a-choice" is not a choice; use one of {", ".join(QUESTIONS[field])}']


def test_a_question_without_a_rule_stops_the_bake(render_hook) -> None:
    context = answers_context()
    module = render_hook("pre_gen_project", context)
    module.QUESTIONS = {**module.QUESTIONS, "colour": "blue"}
    assert module.check_field("colour", "blue").startswith("has no check in hooks/pre_gen_project.py")


def test_the_src_packages_the_hook_protects_are_the_ones_shipped(pre_gen) -> None:
    shipped = {p.name for p in (TEMPLATE_DIR / "{{cookiecutter.project}}" / "src").iterdir() if "{" not in p.name}
    assert pre_gen.SRC_PACKAGES == shipped == pre_gen.src_packages(pre_gen.TEMPLATE)


def test_without_the_template_at_hand_recorded_choices_are_trusted(render_hook) -> None:
    """An update tool that cloned the template elsewhere passes only answers checked when the project was made."""
    context = answers_context()
    for key in ("_repo_dir", "_template"):
        context["cookiecutter"][key] = "https://example.invalid/template.git"
    module = render_hook("pre_gen_project", context)
    assert module.QUESTIONS == {} and module.validate(module.ANSWERS) == []
    assert module.validate({**module.ANSWERS, "package": "evalharness"})  # the strict rules still hold


@pytest.mark.parametrize(
    "value",
    ['say "hi"', "back\\slash", "'''", '"""', "ends in a backslash \\", 'ends in a quote "', 'x\\"""', "a\nb",
     "bot 🤖 Zoë", "</script> & {{ not rendered twice }}", "null"],
)  # fmt: skip
@pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
def test_rendering_keeps_values_exact(render_hook, hook: str, value: str) -> None:
    context = answers_context()
    context["cookiecutter"]["description"] = value  # set after prompting, so Jinja never touches it
    module = render_hook(hook, context)
    assert module.CONTEXT["description"] == value


@pytest.mark.parametrize(("field", "value", "fragment"), [*BAD_ANSWERS, *BAD_REPLAY_ANSWERS])
def test_validate_names_the_field_the_problem_and_the_fix(pre_gen, field: str, value: str, fragment: str) -> None:
    errors = pre_gen.validate({**pre_gen.ANSWERS, field: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{field}: ")
    assert fragment in errors[0]
    assert "use " in errors[0].split(";", 1)[1], "the message must say what is allowed"


@pytest.mark.parametrize(("field", "value"), GOOD_VALUES)
def test_validate_accepts(pre_gen, field: str, value: str) -> None:
    assert pre_gen.validate({**pre_gen.ANSWERS, field: value}) == []


def test_validate_reports_missing_answers(pre_gen) -> None:
    expected = [f"{field}: has no text answer (got null); answer with a string" for field in pre_gen.FIELDS]
    assert pre_gen.validate({}) == expected


@pytest.mark.parametrize("name", ["a@{b", "@", "a.", "a//b", "/a", "a/", "a/.b", "a.lock", "a..b", "a b", "a\x7fb"])
def test_git_ref_rules_refuse(pre_gen, name: str) -> None:
    assert pre_gen.git_ref_problem(name)


@pytest.mark.parametrize("name", ["model-v1.2.3", "release/model-v1.2.3", "v1.2.3", "a.b/c_d-1"])
def test_git_ref_rules_accept(pre_gen, name: str) -> None:
    assert pre_gen.git_ref_problem(name) is None


def test_main_prints_every_error_and_exits_1(pre_gen, monkeypatch, capsys) -> None:
    monkeypatch.setattr(pre_gen, "ANSWERS", {**pre_gen.ANSWERS, "package": "class", "python_version": "2.7"})
    with pytest.raises(SystemExit) as exit_info:
        pre_gen.main()
    assert exit_info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR: ")]
    assert [line.split(":")[1].strip() for line in errors] == ["package", "python_version"]


def test_main_is_silent_for_good_answers(pre_gen, capsys) -> None:
    pre_gen.main()
    assert capsys.readouterr() == ("", "")


def test_replay_answers_drop_machine_specific_keys(render_hook) -> None:
    context = answers_context()
    module = render_hook("post_gen_project", context)
    assert module.replay_answers(module.CONTEXT) == {**plain_answers(context), "_template": str(TEMPLATE_DIR)}
    commit = subprocess.run(["git", "-C", str(TEMPLATE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert module.template_commit(module.CONTEXT) == commit.stdout.strip() and len(commit.stdout.strip()) == 40


def test_remove_when_table_is_the_only_deletion(render_hook, tmp_path: Path, monkeypatch) -> None:
    module = render_hook("post_gen_project", answers_context())
    project = tmp_path / "project"
    (project / "extra").mkdir(parents=True)
    (project / "keep.txt").write_text("kept")
    (project / "gone.txt").write_text("removed")
    table = {("http_api", "no"): ("extra", "gone.txt"), ("http_api", "yes"): ("keep.txt",)}
    monkeypatch.setattr(module, "REMOVE_WHEN", table)
    module.remove_paths(project, module.paths_to_remove({"http_api": "no"}))
    assert sorted(p.name for p in project.iterdir()) == ["keep.txt"]
    with pytest.raises(ValueError, match="inside the project"):
        module.remove_paths(project, ["../keep.txt"])


@pytest.mark.parametrize(("field", "value", "fragment"), BAD_ANSWERS)
def test_cli_rejects_bad_answer_and_leaves_nothing(bake, tmp_path: Path, field: str, value: str, fragment: str) -> None:
    result = bake(**{field: value})
    assert result.exit_code != 0
    assert f"ERROR: {field}: " in result.output
    assert fragment in result.output
    assert list(result.output_dir.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == [result.output_dir.name]  # nothing escaped, e.g. via "../escape"


def run_replay(tmp_path: Path, answers: dict) -> tuple[subprocess.CompletedProcess, Path]:
    """`cookiecutter --replay-file`, with cookiecutter's own replay and cache kept out of the home directory."""
    (tmp_path / "config.yaml").write_text(f"replay_dir: {tmp_path / 'replay'}\ncookiecutters_dir: {tmp_path / 'cc'}\n")
    replay_file = tmp_path / "answers.json"
    replay_file.write_text(json.dumps({"cookiecutter": answers}), "utf-8")
    output_dir = tmp_path / "replayed"
    output_dir.mkdir()
    command = [sys.executable, "-m", "cookiecutter", "-o", str(output_dir), "--replay-file", str(replay_file)]
    proc = subprocess.run(
        [*command, str(TEMPLATE_DIR)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # a missing answer must fail, not wait for a prompt
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "COOKIECUTTER_CONFIG": str(tmp_path / "config.yaml")},
        timeout=120,
    )
    return proc, output_dir


@pytest.mark.parametrize(("field", "value", "fragment"), BAD_REPLAY_ANSWERS)
def test_replay_rejects_bad_answer(tmp_path: Path, field: str, value: str, fragment: str) -> None:
    proc, output_dir = run_replay(tmp_path, {**plain_answers(answers_context()), field: value})
    assert proc.returncode != 0
    assert f"ERROR: {field}: " in proc.stderr
    assert fragment in proc.stderr
    assert list(output_dir.iterdir()) == []


@pytest.mark.parametrize("answers", GOOD_BAKES.values(), ids=GOOD_BAKES.keys())
def test_good_answers_bake_and_are_recorded(bake, answers: dict[str, str]) -> None:
    result = bake(**answers)
    assert result.exit_code == 0, result.output
    commit = subprocess.run(["git", "-C", str(TEMPLATE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True)
    source = {"_template": str(TEMPLATE_DIR), "_commit": commit.stdout.strip()}
    recorded = result.read(".cookiecutter.json")
    canary = json.loads(recorded)["cookiecutter"]["canary"]  # random per bake: recorded, so a replay keeps it
    assert canary.startswith("canary-") and canary in result.read("bot.yaml")
    expected = {"cookiecutter": {**plain_answers(answers_context(**answers)), **source, "canary": canary}}
    assert result.project_dir.name == expected["cookiecutter"]["project"]
    assert recorded == json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    update = json.loads(result.read(".cruft.json"))  # what `cruft update` reads
    assert update["template"] == str(TEMPLATE_DIR) and update["commit"] == source["_commit"]
    assert update["context"] == expected and "evals/datasets" in update["skip"]
    assert f"cd {result.project_dir.name}\n" in result.stdout
    assert "make demo" in result.stdout and "make test" in result.stdout


def test_recorded_answers_replay_to_the_same_project(bake, tmp_path: Path) -> None:
    first = bake(**GOOD_BAKES["custom"])
    assert first.exit_code == 0, first.output
    recorded = json.loads(first.read(".cookiecutter.json"))["cookiecutter"]
    proc, output_dir = run_replay(tmp_path, recorded)
    assert proc.returncode == 0, proc.stderr
    assert (output_dir / "acme-help-desk" / ".cookiecutter.json").read_text("utf-8") == first.read(".cookiecutter.json")


def test_a_bake_from_a_relative_path_says_it_cannot_be_updated(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(f"replay_dir: {tmp_path / 'replay'}\ncookiecutters_dir: {tmp_path / 'cc'}\n")
    relative = os.path.relpath(TEMPLATE_DIR, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", "out", relative],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "COOKIECUTTER_CONFIG": str(tmp_path / "config.yaml")},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "out" / "my-chatbot" / ".cruft.json").exists()
    assert "no .cruft.json" in proc.stdout
