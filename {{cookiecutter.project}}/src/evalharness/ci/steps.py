"""Small steps of the GitHub workflows, kept here (tested) so the YAML stays wiring only. `evalharness ci` runs
them (ci/cli.py); `shards` and `needs` use the standard library only: they run before the project is installed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MAX_SHARDS = 64
SELECT_ARTIFACT = "select-"  # model selection: each contestant's results arrive as artifact select-<name>


def shard_list(count: int) -> list[dict[str, object]]:
    """Matrix entries: `spec` for EVAL_SHARD=i/n, `index` for names (artifact names cannot hold a slash)."""
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"EVAL_SHARD_COUNT must be between 1 and {MAX_SHARDS}, got {count}")
    return [{"index": i, "spec": f"{i}/{count}"} for i in range(1, count + 1)]


def set_output(name: str, value: str) -> None:
    """A step output (printed too, so a local run shows it)."""
    print(f"{name}={value}")
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{name}={value}\n")


def merge_shards(shards_dir: Path, output: Path) -> Path:
    """One shard: its dir becomes the results. Several: merged (rows joined, summary recomputed)."""
    shards = sorted(p for p in shards_dir.iterdir() if p.is_dir()) if shards_dir.is_dir() else []
    if not shards:
        raise ValueError(f"no shard results under {shards_dir}")
    if output.exists():
        shutil.rmtree(output)
    if len(shards) == 1:
        shutil.copytree(shards[0], output)
    else:
        from evalharness.merge import merge

        merge(output, shards)
    return output


def needs_passed(needs: dict) -> tuple[bool, str]:
    """The aggregate required check: every needed job succeeded or was skipped, and at least one ran.

    Exactly one of the eval jobs applies to a PR (live for same-repo PRs and the merge queue, replay for
    forks); the other is skipped. A run where everything was skipped must not count as a pass.
    """
    results = {name: job.get("result") for name, job in needs.items()}
    bad = {name: result for name, result in results.items() if result not in ("success", "skipped")}
    if bad:
        return False, f"eval jobs did not pass: {bad}"
    if "success" not in results.values():
        return False, f"no eval job ran: {results}"
    return True, f"passed: {results}"


def write_pr_info(results: Path, number: str, head_sha: str) -> None:
    """pr.json tells the comment workflow which PR the report belongs to (it re-checks the head sha)."""
    if number:
        (results / "pr.json").write_text(json.dumps({"number": int(number), "head_sha": head_sha}) + "\n", "utf-8")


def expect_promptfoo(results: Path, config: Path = Path("evals/eval.yaml")) -> None:
    """A project with promptfoo whose results lack its outcome gets an ERROR outcome, not a silent pass."""
    from evalharness.promptfoo.cli import SUMMARY, error_summary, write_summary
    from evalharness.settings import load_settings

    settings, _ = load_settings(config)
    if Path(settings.promptfoo.config).is_file() and results.is_dir() and not (results / SUMMARY).is_file():
        reason = "no promptfoo results: the promptfoo job did not run or did not upload them"
        write_summary(results, error_summary(reason, None))
