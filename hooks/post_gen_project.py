"""Finish a freshly generated project: record the answers, apply the deletion table, say what to run next.

Runs inside the new project directory. Local only: no network and no git, so baking works offline and in CI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath

# See pre_gen_project.py for why the context is parsed from a raw string instead of pasted as a Python literal.
CONTEXT: dict[str, object] = json.loads(r"""{{ cookiecutter | tojson }}""")

REPLAY_FILE = ".cookiecutter.json"

# The one place where generated files are deleted: {(answer, value): paths relative to the project root}.
# Optional files are switched off by conditional file names instead (the HTTP API module has a name that renders
# empty when http_api is "no", so cookiecutter never writes it). The table stays empty until something cannot be
# named conditionally.
REMOVE_WHEN: dict[tuple[str, str], tuple[str, ...]] = {}


def replay_answers(context: dict[str, object]) -> dict[str, object]:
    """The answers that reproduce this project with `cookiecutter --replay-file .cookiecutter.json <template>`.

    Underscore keys are template settings or facts about this machine (`_output_dir`, `_repo_dir`, `_checkout`), so
    they stay out; the template's own copy applies on replay. `_template` stays so update tools know the source.
    """
    answers = {key: value for key, value in context.items() if not key.startswith("_")}
    if "_template" in context:
        answers["_template"] = context["_template"]
    return answers


def write_replay_file(project_dir: Path, context: dict[str, object]) -> Path:
    path = project_dir / REPLAY_FILE
    document = {"cookiecutter": replay_answers(context)}
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


def next_steps(project: str) -> str:
    return "\n".join(
        [
            f"Created {project}. Next steps:",
            f"  cd {project}",
            "  make demo   # install, then run the bot, its evals and the gate offline (no key needed)",
            "  make test   # run the tests",
        ]
    )


def main() -> None:
    project_dir = Path.cwd()
    write_replay_file(project_dir, CONTEXT)
    remove_paths(project_dir, paths_to_remove(CONTEXT))
    print(next_steps(str(CONTEXT["project"])))


if __name__ == "__main__":
    main()
