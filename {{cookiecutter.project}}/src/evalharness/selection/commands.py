"""`evalharness select | leaderboard | switch` (make select, the model-selection workflow)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from evalharness.exits import EXIT_BAD_INPUT, EXIT_INFRA, EXIT_PASS
from evalharness.selection import leaderboard as board_rules
from evalharness.selection.candidates import CURRENT, load_candidates, write_candidate_config
from evalharness.selection.render import markdown, write_leaderboard
from evalharness.selection.runs import RUNS, base_config, candidates_path, run_contestants, validate_all
from evalharness.settings import DEFAULT_EVAL_CONFIG, EvalSettings, load_settings
from evalharness.target import target_module
from yamlcheck import FileError


def plan(only: list[str], configs: Path, eval_config: Path = DEFAULT_EVAL_CONFIG) -> list[str]:
    """bot.yaml ("current") and the chosen candidates (all when `only` is empty), each candidate checked."""
    settings, _ = load_settings(eval_config)
    names = validate_all(settings, eval_config, configs, target_module(settings.target, eval_config.parent))
    unknown = [n for n in only if n not in names and n != CURRENT]
    if unknown:
        raise FileError(candidates_path(settings, eval_config), None, f"no candidate named {', '.join(unknown)}")
    return [CURRENT, *[n for n in names if not only or n in only]]


def select(out: Path, only: list[str], eval_config: Path = DEFAULT_EVAL_CONFIG) -> int:
    """Check every candidate, evaluate bot.yaml and the chosen candidates, write the leaderboard."""
    settings, _ = load_settings(eval_config)
    contestants = plan(only, out / "configs", eval_config)
    print(f"select: evaluating {', '.join(contestants)} ({settings.selection.parallel} at a time)", file=sys.stderr)
    statuses = run_contestants(settings, contestants, out, echo=lambda line: print(line, file=sys.stderr))
    codes = {s.name: s.exit_code for s in statuses}
    if any(code == EXIT_BAD_INPUT for code in codes.values()):
        for status in statuses:
            if status.exit_code == EXIT_BAD_INPUT:
                print(status.log.read_text(encoding="utf-8")[-2000:], file=sys.stderr)
        return EXIT_BAD_INPUT
    errors = {s.name: s.error for s in statuses if s.error}
    return _publish(settings, eval_config, {s.name: s.results for s in statuses}, out, codes, errors)


def leaderboard(
    runs: Path, out: Path, prefix: str = "", expected: list[str] = (), eval_config: Path = DEFAULT_EVAL_CONFIG
) -> int:
    """The leaderboard of results dirs made elsewhere: runs/<prefix><name>, one per contestant (CI artifacts).
    An `expected` contestant without results is listed as failed, never silently dropped."""
    settings, _ = load_settings(eval_config)
    found = sorted(p for p in runs.iterdir() if p.is_dir() and p.name.startswith(prefix)) if runs.is_dir() else []
    dirs = {p.name.removeprefix(prefix): p for p in found}
    dirs.update({name: runs / f"{prefix}{name}" for name in expected if name not in dirs})
    if not dirs:
        raise FileError(runs, None, "no results dirs here (one per contestant: <runs>/<name>)")
    return _publish(settings, eval_config, dirs, out, {})


def switch(leaderboard_json: Path, name: str | None, eval_config: Path = DEFAULT_EVAL_CONFIG) -> int:
    """Rewrite bot.yaml as the recommended (or named) candidate; only the overridden values change."""
    settings, _ = load_settings(eval_config)
    board = json.loads(leaderboard_json.read_text(encoding="utf-8"))
    chosen = name or board["recommendation"].get("name")
    if board["recommendation"]["kind"] != "switch" and name is None:
        print(f"switch: nothing to switch to: {board['recommendation']['message']}", file=sys.stderr)
        return 1
    if chosen == CURRENT:
        print("switch: bot.yaml is already the chosen contestant", file=sys.stderr)
        return 1
    candidates, _ = load_candidates(candidates_path(settings, eval_config))
    if chosen not in candidates:
        raise FileError(candidates_path(settings, eval_config), None, f"no candidate named {chosen!r}")
    config = base_config(settings, eval_config)
    write_candidate_config(config, candidates[chosen], config)
    print(f"switch: {config} now holds candidate {chosen}", file=sys.stderr)
    return EXIT_PASS


def _publish(
    settings: EvalSettings,
    eval_config: Path,
    dirs: dict[str, Path],
    out: Path,
    codes: dict[str, int],
    errors: dict[str, str] | None = None,
) -> int:
    path = candidates_path(settings, eval_config)
    candidates = load_candidates(path)[0] if path.is_file() else {}
    board = board_rules.build(settings, dirs, candidates, codes, errors)
    paths = write_leaderboard(out, board)
    text = markdown(board)
    print(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    print(f"leaderboard: {paths['md']}, {paths['json']}, {paths['html']}", file=sys.stderr)
    failed = [r["name"] for r in board["contestants"] if r["status"] == board_rules.FAILED]
    if failed:
        print(f"error: no usable results for {', '.join(failed)} (see {out / RUNS}/<name>.log)", file=sys.stderr)
        return EXIT_INFRA
    return EXIT_PASS
