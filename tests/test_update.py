"""The update path a user takes: bake from an older template commit, work on the project, then the real
`cruft update` to a newer commit. Untouched files take the new template's content, the user's own edits
stay, and the result is the newer template's project (which test_baked_project.py installs and tests).

Slow: two bakes and a cruft run (seconds each), against a git copy of this template on disk; no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE_DIR, cookiecutter_env

pytestmark = pytest.mark.slow

HARNESS_FILE = "{{cookiecutter.project}}/src/evalharness/exits.py"  # generic: users never edit it
OLDER_LINE = "# (an older template's wording of this file)\n"
CRUFT = Path(sys.executable).with_name("cruft")


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main")
    done = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def template_files() -> list[str]:
    """This template's files as a clean clone has them (tracked and new, nothing ignored)."""
    listed = git(TEMPLATE_DIR, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return sorted(name for name in listed.split("\0") if name and (TEMPLATE_DIR / name).is_file())


@pytest.fixture
def template_history(tmp_path: Path) -> tuple[Path, str, str]:
    """A git repo of this template with two commits: an older one (a harness file and the project README
    worded differently), then this template as it is."""
    repo = tmp_path / "template"
    for name in template_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE_DIR / name, repo / name)
    newer = {name: (repo / name).read_text(encoding="utf-8") for name in (HARNESS_FILE, README)}
    (repo / HARNESS_FILE).write_text(OLDER_LINE + newer[HARNESS_FILE], encoding="utf-8")
    (repo / README).write_text(newer[README].replace("## Quick start", "## Getting started", 1), encoding="utf-8")
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "older template")
    older = git(repo, "rev-parse", "HEAD")
    for name, text in newer.items():
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "commit", "-q", "-am", "newer template")
    return repo, older, git(repo, "rev-parse", "HEAD")


README = "{{cookiecutter.project}}/README.md"


def bake(template: Path, output: Path, *answers: str) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output), str(template), *answers],
        capture_output=True, text=True, env=cookiecutter_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return output / "my-chatbot"


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_cruft_update_takes_a_project_to_the_newer_template(
    template_history: tuple[Path, str, str], tmp_path: Path
) -> None:
    template, older, newer = template_history
    git(template, "checkout", "-q", older)
    project = bake(template, tmp_path / "older-bake")
    git(template, "checkout", "-q", "main")
    assert OLDER_LINE in (project / "src/evalharness/exits.py").read_text(encoding="utf-8")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "baked")
    # the team's own work: an edit to a file the template did not change, and one to their knowledge base
    bot = (project / "bot.yaml").read_text(encoding="utf-8")
    (project / "bot.yaml").write_text(bot.replace("top_k: 4", "top_k: 5", 1), encoding="utf-8")
    knowledge = sorted((project / "knowledge").glob("*.md"))[0]
    knowledge.write_text(knowledge.read_text(encoding="utf-8") + "\nA note of our own.\n", encoding="utf-8")
    git(project, "commit", "-q", "-am", "our changes")

    check = subprocess.run([str(CRUFT), "check"], cwd=project, capture_output=True, text=True, timeout=120)
    assert check.returncode != 0, check.stdout  # "not up to date": a newer template commit exists
    done = subprocess.run(
        [str(CRUFT), "update", "--skip-apply-ask"], cwd=project, capture_output=True, text=True, timeout=300,
        env={**cookiecutter_env(), "GIT_CONFIG_GLOBAL": os.devnull},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list(project.rglob("*.rej")), "every untouched file must update cleanly"

    canary = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["context"]["cookiecutter"]["canary"]
    assert canary.encode() in (project / "bot.yaml").read_bytes()  # a random answer, kept across the update
    fresh = bake(template, tmp_path / "newer-bake", f"canary={canary}")  # the newer template, the same answers
    updated, expected = tree(project), tree(fresh)
    expected["bot.yaml"] = (project / "bot.yaml").read_bytes()  # the team's edits stay theirs
    expected[knowledge.relative_to(project).as_posix()] = knowledge.read_bytes()
    assert b"top_k: 5" in updated["bot.yaml"] and b"A note of our own." in knowledge.read_bytes()
    assert OLDER_LINE.encode() not in updated["src/evalharness/exits.py"]
    assert b"## Quick start" in updated["README.md"]
    # cruft rewrites its own state file in its own layout: compared by content
    state, fresh_state = (json.loads(side.pop(".cruft.json")) for side in (updated, expected))
    assert (
        (state["template"], state["commit"])
        == (fresh_state["template"], fresh_state["commit"])
        == (
            str(template),
            newer,
        )
    )
    answers = lambda s: {k: v for k, v in s["context"]["cookiecutter"].items() if not k.startswith("_")}  # noqa: E731
    assert answers(state) == answers(fresh_state)
    differing = sorted(name for name in updated.keys() | expected.keys() if updated.get(name) != expected.get(name))
    assert differing == [], differing  # byte for byte the newer template's project, plus the team's edits
