"""Finish a freshly generated project: record the answers, apply the deletion table, say what to run next.

Runs inside the new project directory. Local only: no network; git is asked (read-only, when present) which
commit of the template this is, so the project can later be updated to a newer one (`cruft update`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path, PurePosixPath

# See pre_gen_project.py for why the context is parsed from a raw string instead of pasted as a Python literal.
CONTEXT: dict[str, object] = json.loads(r"""{{ cookiecutter | tojson }}""")

REPLAY_FILE = ".cookiecutter.json"
UPDATE_FILE = ".cruft.json"  # what `cruft update` / `cruft diff` read: template source, commit and answers
# Content that is the team's own from the first day: an update of the template never touches it.
NEVER_UPDATED = ("knowledge", "evals/datasets", "uv.lock")

# The one place where generated files are deleted: {(answer, value): paths relative to the project root}.
# Optional files are switched off by conditional file names instead (the HTTP API module has a name that renders
# empty when http_api is "no", so cookiecutter never writes it). The table stays empty until something cannot be
# named conditionally.
REMOVE_WHEN: dict[tuple[str, str], tuple[str, ...]] = {}


def replay_answers(context: dict[str, object]) -> dict[str, object]:
    """The answers that reproduce this project with `cookiecutter --replay-file .cookiecutter.json <template>`.

    Underscore keys are template settings or facts about this machine (`_output_dir`, `_repo_dir`, `_checkout`), so
    they stay out; the template's own copy applies on replay. `_template` (the source) and `_commit` (its revision)
    stay, so an update knows where the project came from.
    """
    answers = {key: value for key, value in context.items() if not key.startswith("_")}
    for key in ("_template", "_commit"):
        if context.get(key):
            answers[key] = context[key]
    return answers


def template_commit(context: dict[str, object]) -> str | None:
    """The template commit being baked: given by an update tool (`_commit`), else the checkout's HEAD."""
    if isinstance(context.get("_commit"), str) and context["_commit"]:
        return str(context["_commit"])
    checkout = next((str(context[k]) for k in ("_repo_dir", "_template") if _is_dir(context.get(k))), None)
    if checkout is None:
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--verify", "HEAD"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git on this machine: the project is made, only its updates need a commit
    return done.stdout.strip() if done.returncode == 0 else None


def _is_dir(value: object) -> bool:
    return isinstance(value, str) and bool(value) and Path(value).is_dir()


def update_source(context: dict[str, object]) -> str | None:
    """Where an update fetches the template from: a URL as given, a local checkout by its absolute path
    (a relative one names nothing once the project moves)."""
    template = context.get("_template")
    if not isinstance(template, str) or not template:
        return None
    if "://" in template or template.startswith(("git@", "gh:", "gl:", "bb:")):
        return template
    return template if Path(template).is_absolute() and Path(template).is_dir() else None


def write_replay_file(project_dir: Path, context: dict[str, object]) -> Path:
    path = project_dir / REPLAY_FILE
    document = {"cookiecutter": replay_answers({**context, "_commit": template_commit(context)})}
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_update_file(project_dir: Path, context: dict[str, object]) -> Path | None:
    """`.cruft.json`, when the source and commit are known (a template baked from a relative path or from a
    folder that is not a git checkout cannot be updated from; the next steps say so)."""
    source, commit = update_source(context), template_commit(context)
    if source is None or commit is None:
        return None
    answers = {**replay_answers(context), "_template": source, "_commit": commit}
    document = {
        "template": source,
        "commit": commit,
        "checkout": None,
        "context": {"cookiecutter": answers},
        "directory": None,
        "skip": list(NEVER_UPDATED),
    }
    path = project_dir / UPDATE_FILE
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def paths_to_remove(context: dict[str, object]) -> list[str]:
    return [path for (key, value), paths in REMOVE_WHEN.items() if context.get(key) == value for path in paths]


def remove_paths(project_dir: Path, relative_paths: list[str]) -> None:
    root = project_dir.resolve()
    for relative in relative_paths:
        # A typo in the table must never reach outside the project.
        if PurePosixPath(relative).is_absolute() or ".." in PurePosixPath(relative).parts:
            raise ValueError(f"REMOVE_WHEN path must stay inside the project: {relative!r}")
        target = root / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def next_steps(project: str, updatable: bool = True) -> str:
    lines = [
        f"Created {project}. Next steps:",
        f"  cd {project}",
        "  make demo   # install, then run the bot, its evals and the gate offline (no key needed)",
        "  make test   # run the tests",
    ]
    if not updatable:
        lines.append("(no .cruft.json: bake from a git URL or the absolute path of a git checkout to get updates)")
    return "\n".join(lines)


def main() -> None:
    project_dir = Path.cwd()
    write_replay_file(project_dir, CONTEXT)
    updatable = write_update_file(project_dir, CONTEXT) is not None
    remove_paths(project_dir, paths_to_remove(CONTEXT))
    print(next_steps(str(CONTEXT["project"]), updatable))


if __name__ == "__main__":
    main()
