"""Small steps of the GitHub workflows, kept here (tested) so the YAML stays wiring only.

    python -m evalharness.workflow shards        SHARD_COUNT -> shards=[{index, spec: "i/n"}, ...] on $GITHUB_OUTPUT,
                                                 and promptfoo=true|false (is promptfoo set up: package-lock.json)
    python -m evalharness.workflow merge-shards  results/shards/* -> results/head (one shard: copied)
    python -m evalharness.workflow gate          the gate, plus verdict/exit-code outputs and pr.json
    python -m evalharness.workflow needs         the aggregate check: did the eval run that applies pass?
    python -m evalharness.workflow promptfoo     promptfoo into RESULTS; its outcome is recorded for the gate
    python -m evalharness.workflow contestants   CANDIDATES (comma list, empty = all) -> contestants=["current", ...]
                                                 after checking evals/candidates.yaml
    python -m evalharness.workflow leaderboard   RUNS/select-<name> (downloaded artifacts) -> LEADERBOARD/leaderboard.*,
                                                 and recommendation=switch|keep|tie|none, candidate=<name>

`shards` and `needs` use the standard library only: they run before the project is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

MAX_SHARDS = 64
SELECT_ARTIFACT = "select-"  # model selection: each contestant's results arrive as artifact select-<name>


def shard_list(count: int) -> list[dict[str, object]]:
    """Matrix entries: `spec` for SHARD=i/n, `index` for names (artifact names cannot hold a slash)."""
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"SHARD_COUNT must be between 1 and {MAX_SHARDS}, got {count}")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    if command == "shards":
        set_output("shards", json.dumps(shard_list(int(os.environ.get("SHARD_COUNT") or "1"))))
        set_output("promptfoo", "true" if Path("package-lock.json").is_file() else "false")
        return 0
    if command == "merge-shards":
        shards = Path(os.environ.get("SHARDS_DIR", "results/shards"))
        merge_shards(shards, Path(os.environ.get("RESULTS", "results/head")))
        return 0
    if command == "needs":
        ok, message = needs_passed(json.loads(os.environ.get("NEEDS") or "{}"))
        print(message, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    if command == "contestants":
        return _contestants()
    if command == "leaderboard":
        return _leaderboard()
    if command == "gate":
        return _gate()
    if command == "promptfoo":
        return _promptfoo()
    print(__doc__, file=sys.stderr)
    return 2


def _contestants() -> int:
    """The model-selection matrix: bot.yaml ("current") and the chosen candidates, every candidate checked."""
    from evalharness.selection.commands import plan
    from yamlcheck import FileError
    from yamlcheck import report as report_file_error

    only = [n.strip() for n in os.environ.get("CANDIDATES", "").split(",") if n.strip()]
    try:
        names = plan(only, Path("results/select/configs"))
    except FileError as exc:
        return report_file_error(exc)
    set_output("contestants", json.dumps(names))
    return 0


def _leaderboard() -> int:
    from evalharness.selection.commands import leaderboard

    out = Path(os.environ.get("LEADERBOARD", "results/leaderboard"))
    runs = Path(os.environ.get("RUNS", "results/select/runs"))
    expected = json.loads(os.environ.get("CONTESTANTS") or "[]")  # the plan: a contestant without results failed
    code = leaderboard(runs, out, prefix=SELECT_ARTIFACT, expected=expected)
    board = out / "leaderboard.json"
    if board.is_file():
        recommendation = json.loads(board.read_text("utf-8"))["recommendation"]
        set_output("recommendation", recommendation["kind"])
        set_output("candidate", recommendation.get("name") or "")
    return code


def _promptfoo() -> int:
    """Run promptfoo and keep going whatever it found: the gate job reads the recorded outcome (a FAIL there
    is a FAIL of the gate), so one verdict, with one report, decides the check."""
    from evalharness.cli import main as harness

    harness(["promptfoo", "--results", os.environ.get("RESULTS", "results/promptfoo")])
    return 0


def expect_promptfoo(results: Path, config: Path = Path("evals/eval.yaml")) -> None:
    """A project with promptfoo whose results lack its outcome gets an ERROR outcome, not a silent pass."""
    from evalharness.promptfoo.cli import SUMMARY, error_summary, write_summary
    from evalharness.settings import load_settings

    settings, _ = load_settings(config)
    if Path(settings.promptfoo.config).is_file() and results.is_dir() and not (results / SUMMARY).is_file():
        reason = "no promptfoo results: the promptfoo job did not run or did not upload them"
        write_summary(results, error_summary(reason, None))


def _gate() -> int:
    from evalharness.cli import main as harness

    results = Path(os.environ.get("RESULTS", "results/head"))
    if not os.environ.get("CANDIDATE"):  # model selection runs no promptfoo job
        expect_promptfoo(results)
    args = ["gate", "--results", str(results), "--mode", os.environ.get("MODE", "pr")]
    if os.environ.get("BASELINE"):
        args += ["--baseline", os.environ["BASELINE"]]
    if os.environ.get("ACCEPTED", "").lower() == "true":  # the PR carries the maintainers' accept label
        args.append("--accept-worse")
    code = harness(args)
    verdict_file = results / "verdict.json"
    verdict = json.loads(verdict_file.read_text("utf-8"))["verdict"] if verdict_file.is_file() else "ERROR"
    set_output("verdict", verdict)
    set_output("exit-code", str(code))
    if (results / "report.md").is_file():  # no report (e.g. bad config): nothing for the comment workflow to post
        write_pr_info(results, os.environ.get("PR_NUMBER", ""), os.environ.get("HEAD_SHA", ""))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
