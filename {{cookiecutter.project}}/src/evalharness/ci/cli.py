"""`evalharness ci STEP`: what the GitHub workflows run, one step each (values arrive as EVAL_* variables, so
the YAML holds no logic and no expression inside `run:`).

    shards        EVAL_SHARD_COUNT -> shards=[{index, spec}], promptfoo=true|false    (standard library only)
    needs         EVAL_NEEDS (the jobs' results) -> did the eval run that applies pass? (standard library only)
    merge-shards  EVAL_SHARDS_DIR/* -> EVAL_RESULTS (one shard: copied)
    gate          the gate on EVAL_RESULTS against EVAL_BASELINE, verdict/exit-code outputs, pr.json
    promptfoo     promptfoo into EVAL_RESULTS; its outcome is recorded for the gate job
    contestants   EVAL_CANDIDATES (comma list, empty = all) -> contestants=["current", ...]
    leaderboard   EVAL_RUNS/select-<name> -> EVAL_LEADERBOARD/leaderboard.*, recommendation, candidate
    comment       the sticky PR comment from an artifact (EVAL_ARTIFACT, EVAL_HEAD_SHA, EVAL_CONCLUSION)
    release       tag HEAD as the next model version if the release gate passed
    select-pr     open a PR that switches bot.yaml to the recommended candidate

Exit codes: 0 done, 1 refused (the gate did not pass), 2 bad input, 3 infrastructure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from evalharness.ci.errors import EXIT_DONE, BadInput, CIError
from evalharness.ci.steps import SELECT_ARTIFACT, merge_shards, needs_passed, set_output, shard_list, write_pr_info
from evalharness.options import env


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # bad arguments: argparse exits with 2
    try:
        return args.step(args)
    except CIError as exc:
        print(f"{'' if str(exc).startswith('refused') else 'error: '}{exc}", file=sys.stderr)
        return exc.exit_code


def _parser() -> argparse.ArgumentParser:
    from evalharness.ci.release import BUMPS

    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="evalharness ci", description=__doc__, formatter_class=raw)
    steps = parser.add_subparsers(required=True, metavar="STEP")
    for name, step, about in (
        ("shards", _shards, "the shard matrix"),
        ("needs", _needs, "the aggregate required check"),
        ("merge-shards", _merge_shards, "join the downloaded shard results"),
        ("gate", _gate, "the gate, with step outputs and pr.json"),
        ("promptfoo", _promptfoo, "promptfoo into the results, outcome recorded"),
        ("contestants", _contestants, "the model-selection matrix"),
        ("leaderboard", _leaderboard, "the leaderboard of the contestants' artifacts"),
    ):
        steps.add_parser(name, help=about).set_defaults(step=step)

    comment = steps.add_parser("comment", help="post or update the sticky eval comment of a PR")
    comment.add_argument("--artifact", type=Path, default=env("EVAL_ARTIFACT") or None, help="the eval artifact")
    comment.add_argument("--head-sha", default=env("EVAL_HEAD_SHA"), help="the head sha the run evaluated")
    comment.add_argument("--conclusion", default=env("EVAL_CONCLUSION"), help="that run's conclusion")
    comment.set_defaults(step=_comment)

    release = steps.add_parser("release", help="tag HEAD as the next model version if the release gate passed")
    release.add_argument("--results", type=Path, default=Path(env("EVAL_RESULTS") or "results/latest"))
    release.add_argument("--prefix", default=None, help="tag prefix (default: [tool.evalharness] tag_prefix)")
    release.add_argument("--bump", choices=BUMPS, default=env("EVAL_BUMP") or "auto", help="default: $EVAL_BUMP, auto")
    release.add_argument("--repo", type=Path, default=Path("."), help="the git checkout (default: .)")
    release.add_argument("--remote", default="origin")
    release.add_argument("--no-push", dest="push", action="store_false", help="tag locally only")
    release.add_argument("--github-release", action="store_true", help="also create a GitHub Release with assets")
    release.set_defaults(step=_release)

    switch = steps.add_parser("select-pr", help="open a PR that switches bot.yaml to the recommended candidate")
    switch.add_argument("--leaderboard", type=Path, default=Path(env("EVAL_LEADERBOARD") or "results/select"))
    switch.add_argument("--candidates", type=Path, default=Path("evals/candidates.yaml"), help="within --repo")
    switch.add_argument("--config", type=Path, default=Path("bot.yaml"), help="within --repo")
    switch.add_argument("--repo", type=Path, default=Path("."))
    switch.set_defaults(step=_select_pr)
    return parser


def _shards(args: argparse.Namespace) -> int:
    set_output("shards", json.dumps(shard_list(int(env("EVAL_SHARD_COUNT") or "1"))))
    set_output("promptfoo", "true" if Path("package-lock.json").is_file() else "false")
    return EXIT_DONE


def _needs(args: argparse.Namespace) -> int:
    ok, message = needs_passed(json.loads(env("EVAL_NEEDS") or "{}"))
    print(message, file=sys.stdout if ok else sys.stderr)
    return EXIT_DONE if ok else 1


def _merge_shards(args: argparse.Namespace) -> int:
    merge_shards(Path(env("EVAL_SHARDS_DIR") or "results/shards"), Path(env("EVAL_RESULTS") or "results/head"))
    return EXIT_DONE


def _gate(args: argparse.Namespace) -> int:
    """The gate in CI: its exit code is the job's, and the verdict and code are step outputs."""
    from evalharness.ci.steps import expect_promptfoo
    from evalharness.cli import main as harness

    results = Path(env("EVAL_RESULTS") or "results/head")
    if not env("EVAL_CANDIDATE"):  # model selection runs no promptfoo job
        expect_promptfoo(results)
    code = harness(["gate", "--results", str(results)])  # mode, baseline and acceptance: EVAL_* variables
    verdict_file = results / "verdict.json"
    verdict = json.loads(verdict_file.read_text("utf-8"))["verdict"] if verdict_file.is_file() else "ERROR"
    set_output("verdict", verdict)
    set_output("exit-code", str(code))
    if (results / "verdict.json").is_file():  # no verdict (e.g. bad config): nothing for the comment to show
        write_pr_info(results, env("EVAL_PR_NUMBER"), env("EVAL_HEAD_SHA"))
    return code


def _promptfoo(args: argparse.Namespace) -> int:
    """Run promptfoo and keep going whatever it found: the gate job reads the recorded outcome (a FAIL there
    is a FAIL of the gate), so one verdict, with one report, decides the check."""
    from evalharness.cli import main as harness

    harness(["promptfoo", "--results", env("EVAL_RESULTS") or "results/promptfoo"])
    return EXIT_DONE


def _contestants(args: argparse.Namespace) -> int:
    """The model-selection matrix: bot.yaml ("current") and the chosen candidates, every candidate checked."""
    from evalharness.selection.commands import plan
    from yamlcheck import FileError
    from yamlcheck import report as report_file_error

    only = [n.strip() for n in env("EVAL_CANDIDATES").split(",") if n.strip()]
    try:
        names = plan(only, Path("results/select/configs"))
    except FileError as exc:
        return report_file_error(exc)
    set_output("contestants", json.dumps(names))
    return EXIT_DONE


def _leaderboard(args: argparse.Namespace) -> int:
    from evalharness.selection.commands import leaderboard

    out = Path(env("EVAL_LEADERBOARD") or "results/leaderboard")
    runs = Path(env("EVAL_RUNS") or "results/select/runs")
    expected = json.loads(env("EVAL_CONTESTANTS") or "[]")  # the plan: a contestant without results failed
    code = leaderboard(runs, out, prefix=SELECT_ARTIFACT, expected=expected)
    board = out / "leaderboard.json"
    if board.is_file():
        recommendation = json.loads(board.read_text("utf-8"))["recommendation"]
        set_output("recommendation", recommendation["kind"])
        set_output("candidate", recommendation.get("name") or "")
    return code


def _select_pr(args: argparse.Namespace) -> int:
    from evalharness.ci.github_api import GitHubAPI
    from evalharness.ci.switch_pr import open_switch_pr

    repo = args.repo.resolve()
    board = args.leaderboard / "leaderboard.json" if args.leaderboard.is_dir() else args.leaderboard
    done = open_switch_pr(board, repo / args.candidates, repo / args.config, repo, GitHubAPI())
    print(f"opened PR #{done['number']} from {done['branch']}: {done['url']}")
    return EXIT_DONE


def _comment(args: argparse.Namespace) -> int:
    from evalharness.ci.comment import sticky_comment
    from evalharness.ci.errors import BadInput
    from evalharness.ci.github_api import GitHubAPI

    if args.artifact is None:
        raise BadInput("--artifact (or EVAL_ARTIFACT): the downloaded eval artifact is required")
    action, comment_id = sticky_comment(GitHubAPI(), None, args.artifact, args.head_sha, args.conclusion)
    print(f"{action} comment {comment_id}")
    return EXIT_DONE


def _tag_prefix(pyproject: Path) -> str:
    """The project's one place for its model-version tag prefix (the bot's tracing reads the same value)."""
    import tomllib

    try:
        prefix = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["evalharness"]["tag_prefix"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"no --prefix and no [tool.evalharness] tag_prefix in {pyproject}: {exc}") from None
    if not isinstance(prefix, str) or not prefix:
        raise BadInput(f"[tool.evalharness] tag_prefix in {pyproject} must be a non-empty string")
    return prefix


def _release(args: argparse.Namespace) -> int:
    from evalharness.ci.github_api import GitHubAPI
    from evalharness.ci.release import release

    api = GitHubAPI() if args.github_release else None
    prefix = args.prefix or _tag_prefix(args.repo / "pyproject.toml")
    done = release(args.results, prefix, args.bump, args.repo, remote=args.remote, push=args.push, api=api)
    print(done["tag"])
    print(f"reason: {done['reason']}")
    print(f"pushed to {args.remote}" if done["pushed"] else "tagged locally, not pushed (--no-push)")
    if done["release_url"]:
        print(f"release: {done['release_url']}")
    output = os.environ.get("GITHUB_OUTPUT")
    if output:  # for later steps of the job: steps.<id>.outputs.tag / version
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(f"tag={done['tag']}\nversion={done['version']}\n")
    return EXIT_DONE
