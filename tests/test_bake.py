"""What a bake produces, for every named option combination: exact files, rendered answers, parseable configs."""

from __future__ import annotations

import json
import py_compile
import re
import tomllib

import pytest
import yaml

from tests.conftest import OPTION_SETS, BakeResult

KNOWLEDGE = {
    f"knowledge/{name}.md"
    for name in (
        "account-and-login",
        "api-and-rate-limits",
        "billing-and-invoices",
        "contacting-support",
        "getting-started",
        "import-and-export",
        "integrations",
        "offline-mode-and-sync",
        "plans-and-pricing",
        "refunds-and-cancellation",
        "security-and-privacy",
        "sharing-and-permissions",
        "two-factor-authentication",
        "workspaces-and-roles",
    )
}
PACKAGE_FILES = {
    "__init__.py",
    "__main__.py",
    "bot.py",
    "cli.py",
    "config.py",
    "errors.py",
    "feedback.py",
    "feedback_store.py",
    "fingerprint.py",
    "knowledge.py",
    "prompting.py",
    "providers/__init__.py",
    "providers/base.py",
    "providers/offline.py",
    "providers/openai_chat.py",
    "retrieval.py",
    "tracing.py",
}
TEST_FILES = {
    f"tests/{name}.py"
    for name in (
        "__init__",
        "conftest",
        "fake_openai",
        "fake_langsmith",
        "test_cli",
        "test_config",
        "test_eval_inputs",
        "test_eval_run",
        "test_eval_store",
        "test_gate",
        "test_offline_provider",
        "test_openai_provider",
        "test_reports",
        "test_reports_in_a_browser",
        "test_retrieval",
        "test_stats",
        "test_ci_steps",
        "test_architecture",
        "test_custom_metrics",
        "test_case_selection",
        "test_environment",
        "test_tracing",
        "test_feedback",
        "test_experiment",
        "fake_github",
        "test_ci_github",
        "test_ci_release",
        "test_probes",
        "test_selection",
        "loopback/__init__",
        "loopback/loopback_guard",
        "loopback/sitecustomize",
    )
}
# The generic packages: copied verbatim (never rendered), so they can be updated from the template.
GENERIC_FILES = (
    {"src/yamlcheck/__init__.py", "src/observability/__init__.py"}
    | {
        f"src/evalharness/{name}.py"
        for name in (
            "__init__",
            "__main__",
            "calls",
            "case_table",
            "changes",
            "cli",
            "datasets",
            "exits",
            "failures",
            "experiment",
            "gate",
            "merge",
            "pricing",
            "metrics/__init__",
            "metrics/build",
            "metrics/deterministic",
            "metrics/judge",
            "metrics/deepeval_judge",
            "progress",
            "pytest_plugin",
            "report/__init__",
            "report/fmt",
            "report/html",
            "report/html_case_table",
            "report/junit",
            "report/markdown",
            "report/svg",
            "report/tables",
            "report/terminal",
            "options",
            "provenance",
            "results",
            "run",
            "runner",
            "settings",
            "sides",
            "stats/__init__",
            "stats/bounds",
            "stats/paired",
            "stats/percentile",
            "stats/sequential",
            "stats/signflip",
            "stats/verdicts",
            "stopping",
            "summary",
            "target",
            "ci/__init__",
            "ci/cli",
            "ci/steps",
            "ci/comment",
            "ci/errors",
            "ci/git",
            "ci/github_api",
            "ci/manifest",
            "ci/release",
            "ci/switch_pr",
            "promptfoo/__init__",
            "promptfoo/cli",
            "promptfoo/provider",
            "promptfoo/tests",
            "selection/__init__",
            "selection/candidates",
            "selection/commands",
            "selection/leaderboard",
            "selection/plot",
            "selection/render",
            "selection/runs",
            "selection/versions",
            "metrics/registry",
        )
    }
    | {"src/evalharness/promptfoo/loopback_only.cjs"}
)
GITHUB_FILES = {
    ".github/actions/setup/action.yml",
    ".github/dependabot.yml",
    ".github/zizmor.yml",
    *(
        f".github/workflows/{name}.yml"
        for name in ("ci", "eval", "nightly", "pr", "pr-comment", "release", "model-selection")
    ),
}
EVAL_FILES = {
    "evals/candidates.yaml",
    "evals/conftest.py",
    "evals/datasets/probes.yaml",
    "evals/datasets/support.yaml",
    "evals/eval.yaml",
    "evals/target.py",
    "evals/custom_metrics.py",
}
PROMPTFOO_FILES = {
    "package.json",
    "package-lock.json",
    "promptfooconfig.yaml",
    "evals/promptfoo_cases.py",
    "evals/promptfoo_provider.py",
    "tests/test_promptfoo.py",
}
TOP_LEVEL = {
    ".cookiecutter.json",
    ".cruft.json",
    ".env.example",
    ".gitignore",
    "Makefile",
    "README.md",
    "bot.yaml",
    "prompts/system.md.j2",
    "pyproject.toml",
}

DOCS = {f"docs/{name}.md" for name in ("bot", "ci", "evals", "feedback", "model-selection", "reference", "updating")}


def expected_files(answers: dict[str, str]) -> set[str]:
    package = answers.get("package", "my_chatbot")
    files = TOP_LEVEL | DOCS | KNOWLEDGE | TEST_FILES | GENERIC_FILES | EVAL_FILES | GITHUB_FILES
    files |= {f"src/{package}/{name}" for name in PACKAGE_FILES}
    if answers.get("http_api", "yes") == "yes":
        files |= {f"src/{package}/api.py", "tests/test_api.py"}
    if answers.get("promptfoo", "yes") == "yes":
        files |= PROMPTFOO_FILES
    return files


@pytest.fixture(params=sorted(OPTION_SETS), ids=str)
def baked(request: pytest.FixtureRequest, bake) -> tuple[dict[str, str], BakeResult]:
    answers = OPTION_SETS[request.param]
    result = bake(**answers)
    assert result.exit_code == 0, result.output
    return answers, result


def test_exact_file_set(baked: tuple[dict[str, str], BakeResult]) -> None:
    answers, result = baked
    assert result.project_dir.name == answers.get("project", "my-chatbot")
    assert result.files() == expected_files(answers)


# Jinja markers that cookiecutter should have consumed. GitHub's own `${{ ... }}` expressions are legitimate,
# and prompt templates are copied unrendered on purpose (they are the bot's Jinja, rendered at run time).
LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|\{#|(?<![.\w])cookiecutter\.(?!json\b)\w")


def test_no_leftover_template_markers(baked: tuple[dict[str, str], BakeResult]) -> None:
    _, result = baked
    for name in sorted(result.files()):
        if name.startswith("prompts/") or name in (".cookiecutter.json", "promptfooconfig.yaml"):  # their own Jinja
            continue
        text = result.read(name)
        match = LEFTOVER.search(text)
        assert match is None, f"{name}: leftover {match.group(0)!r} near {text[max(match.start() - 40, 0) :][:80]!r}"


def test_every_config_file_parses(baked: tuple[dict[str, str], BakeResult]) -> None:
    _, result = baked
    for name in result.files():
        path = result.project_dir / name
        parsed = None
        if name.endswith((".yaml", ".yml")):
            parsed = yaml.safe_load(path.read_text(encoding="utf-8"))
        elif name.endswith(".toml"):
            parsed = tomllib.loads(path.read_text(encoding="utf-8"))
        elif name.endswith(".json"):
            parsed = json.loads(path.read_text(encoding="utf-8"))
        elif name.endswith(".py"):
            py_compile.compile(str(path), doraise=True)
            continue
        else:
            continue
        # a file that parses to nothing (empty, or rendered away by a Jinja condition) is a broken file
        assert isinstance(parsed, dict) and parsed, f"{name} parses to {parsed!r}"


def test_answers_land_where_they_belong(baked: tuple[dict[str, str], BakeResult]) -> None:
    answers, result = baked
    project = answers.get("project", "my-chatbot")
    package = answers.get("package", "my_chatbot")
    pyproject = tomllib.loads(result.read("pyproject.toml"))
    assert pyproject["project"]["name"] == project
    scripts = {project: f"{package}.cli:main", "evalharness": "evalharness.__main__:main"}
    assert pyproject["project"]["scripts"] == scripts
    assert pyproject["tool"]["evalharness"]["tag_prefix"] == answers.get("model_tag_prefix", "model-v")
    assert pyproject["project"]["requires-python"] == f">={answers.get('python_version', '3.11')}"
    dependencies = " ".join(pyproject["project"]["dependencies"])
    assert ("fastapi" in dependencies) == (answers.get("http_api", "yes") == "yes")
    bot = yaml.safe_load(result.read("bot.yaml"))
    assert bot["model"] == answers.get("model", "gpt-4o-mini")
    assert bot["provider"] == "openai"
    replay = json.loads(result.read(".cookiecutter.json"))["cookiecutter"]
    assert replay["project"] == project and replay["package"] == package
    makefile = result.read("Makefile")
    for target in ("help", "install", "demo", "chat", "test", "lint", "eval", "gate", "report", "merge"):
        assert re.search(rf"^{target}:.*## ", makefile, re.MULTILINE), target
    assert ("\nserve:" in makefile) == (answers.get("http_api", "yes") == "yes")


def test_prompt_templates_are_copied_unrendered(bake) -> None:
    result = bake()
    assert "{% for p in passages %}" in result.read("prompts/system.md.j2")


def test_generic_packages_have_no_project_names(bake) -> None:
    """The harness is the same in every baked project: it can be updated from the template as a whole."""
    default, custom = bake(), bake(**OPTION_SETS["custom"])
    for name in sorted(GENERIC_FILES):
        assert default.read(name) == custom.read(name), name
        assert "my_chatbot" not in default.read(name) and "acme" not in custom.read(name)


def test_every_target_that_runs_uv_can_bootstrap_it(bake) -> None:
    """On a fresh machine (no uv on PATH) any target is a valid first command: those that run uv depend on
    the rule that bootstraps it into .tools/ (`make test` in a fresh bake must not fail with 'uv: not found')."""
    makefile = bake().read("Makefile")
    rules = re.findall(r"^([a-z][a-z-]*):([^\n]*)\n((?:\t[^\n]*\n)*)", makefile, re.M)
    checked = 0
    for name, prerequisites, recipe in rules:
        if any(tool in recipe for tool in ("$(RUN)", "$(HARNESS)", "$(UV)")):
            checked += 1
            needs = prerequisites.split("##")[0].split()
            assert "$(UV)" in needs or "install" in needs, f"make {name} runs uv without bootstrapping it"
    assert checked >= 15


def test_make_help_fits_100_columns(baked: tuple[dict[str, str], BakeResult]) -> None:
    """`make help` prints `  make NAME<pad to 17> DESCRIPTION`; every line must fit a 100-column terminal."""
    _, result = baked
    makefile = result.read("Makefile")
    documented = re.findall(r"^([a-z][a-z-]*):[^\n#]*## ([^\n]*)$", makefile, re.M)
    assert len(documented) >= 15
    lines = [f"  make {name:<17s} {text}" for name, text in documented]
    assert all(len(line) <= 100 for line in lines), [line for line in lines if len(line) > 100]


CODE = re.compile(r"```.*?```|`[^`]+`", re.S)  # code blocks and spans: where a command is, not prose
MAKE_COMMAND = re.compile(r"\bmake ([a-z][a-z-]*)")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_a_front_door_whose_links_and_commands_hold(baked: tuple[dict[str, str], BakeResult]) -> None:
    """The baked README fits about 150 lines with the two commands on its first screen; it and every page of
    docs/ link only to files that exist and name only make targets that `make help` lists."""
    _, result = baked
    readme = result.read("README.md").splitlines()
    assert len(readme) <= 150, len(readme)
    first_screen = "\n".join(readme[:40])
    assert "make demo " in first_screen and "make test " in first_screen
    documented = set(re.findall(r"^([a-z][a-z-]*):[^\n#]*## ", result.read("Makefile"), re.M))
    pages = ["README.md", *sorted(name for name in result.files() if name.startswith("docs/"))]
    assert set(pages[1:]) == DOCS
    for page in pages:
        text = result.read(page)
        for target in MAKE_COMMAND.findall("\n".join(CODE.findall(text))):
            assert target in documented, f"{page}: `make {target}` is not a target `make help` lists"
        for link in MARKDOWN_LINK.findall(text):
            if "://" in link:
                continue
            assert (result.project_dir / page).parent.joinpath(link).resolve().is_file(), f"{page}: broken link {link}"
