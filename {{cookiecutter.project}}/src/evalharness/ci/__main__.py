"""`python -m evalharness.ci comment | release | select-pr`: the steps the GitHub workflows run.

Exit codes: 0 done, 1 refused (the release gate did not pass), 2 bad input (arguments, artifact, existing tag),
3 infrastructure (git or the GitHub API failed or could not be reached).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from evalharness.ci import release as release_rules
from evalharness.ci.errors import EXIT_DONE, CIError
from evalharness.ci.release import BUMPS


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # bad arguments: argparse exits with 2
    try:
        return args.command(args)
    except CIError as exc:
        print(f"{'' if str(exc).startswith('refused') else 'error: '}{exc}", file=sys.stderr)
        return exc.exit_code


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m evalharness.ci", description=__doc__, formatter_class=raw)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    comment = commands.add_parser("comment", help="post or update the sticky eval-report comment of a PR")
    comment.add_argument("--artifact", type=Path, required=True, help="the downloaded eval artifact (data only)")
    comment.add_argument("--head-sha", required=True, help="the head sha of the workflow run that made it")
    comment.add_argument("--conclusion", required=True, help="that run's conclusion: success | failure")
    comment.set_defaults(command=_comment)

    release = commands.add_parser(
        "release",
        help="tag HEAD as the next model version if the release gate passed",
        description=release_rules.__doc__,
        formatter_class=raw,
    )
    release.add_argument("--results", type=Path, required=True, help="results dir with verdict.json of MODE=release")
    release.add_argument("--prefix", required=True, help="tag prefix, e.g. model-v (tags look like model-v1.2.3)")
    release.add_argument("--bump", choices=BUMPS, default="auto", help="default: auto (the rule above)")
    release.add_argument("--repo", type=Path, default=Path("."), help="the git checkout (default: .)")
    release.add_argument("--remote", default="origin")
    release.add_argument("--no-push", dest="push", action="store_false", help="tag locally only")
    release.add_argument("--github-release", action="store_true", help="also create a GitHub Release with assets")
    release.set_defaults(command=_release)

    switch = commands.add_parser("select-pr", help="open a PR that switches bot.yaml to the recommended candidate")
    switch.add_argument("--leaderboard", type=Path, required=True, help="leaderboard.json of the model selection")
    switch.add_argument("--candidates", type=Path, default=Path("evals/candidates.yaml"), help="within --repo")
    switch.add_argument("--config", type=Path, default=Path("bot.yaml"), help="within --repo")
    switch.add_argument("--repo", type=Path, default=Path("."))
    switch.set_defaults(command=_select_pr)
    return parser


def _select_pr(args: argparse.Namespace) -> int:
    from evalharness.ci.github_api import GitHubAPI
    from evalharness.ci.switch_pr import open_switch_pr

    repo = args.repo.resolve()
    done = open_switch_pr(args.leaderboard, repo / args.candidates, repo / args.config, repo, GitHubAPI())
    print(f"opened PR #{done['number']} from {done['branch']}: {done['url']}")
    return EXIT_DONE


def _comment(args: argparse.Namespace) -> int:
    from evalharness.ci.comment import sticky_comment
    from evalharness.ci.github_api import GitHubAPI

    action, comment_id = sticky_comment(GitHubAPI(), None, args.artifact, args.head_sha, args.conclusion)
    print(f"{action} comment {comment_id}")
    return EXIT_DONE


def _release(args: argparse.Namespace) -> int:
    from evalharness.ci.github_api import GitHubAPI
    from evalharness.ci.release import release

    api = GitHubAPI() if args.github_release else None
    done = release(args.results, args.prefix, args.bump, args.repo, remote=args.remote, push=args.push, api=api)
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


if __name__ == "__main__":
    raise SystemExit(main())
