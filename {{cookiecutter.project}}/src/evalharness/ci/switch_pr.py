"""The model-selection workflow's last step: a PR that switches bot.yaml to the recommended candidate.

Only bot.yaml changes (the overridden values, comments kept), on a new branch, with the leaderboard as the
PR body. The PR then goes through the normal eval gate like any other change to the model version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from evalharness.ci.errors import BadInput, Refused
from evalharness.ci.git import BOT_IDENTITY, git, remote_auth_env
from evalharness.selection.candidates import load_candidates, write_candidate_config

MAX_BODY = 60_000  # GitHub's limit on a PR body is 65 536 characters


def open_switch_pr(
    leaderboard: Path, candidates_file: Path, config: Path, repo_dir: Path, api: Any, remote: str = "origin"
) -> dict[str, Any]:
    board = json.loads(leaderboard.read_text(encoding="utf-8"))
    recommendation = board["recommendation"]
    if recommendation["kind"] != "switch":
        raise Refused(f"refused: nothing to switch to ({recommendation['message']})")
    name = recommendation["name"]
    candidates, _ = load_candidates(candidates_file)
    if name not in candidates:
        raise BadInput(f"{candidates_file}: the recommended candidate {name!r} is no longer there")
    base_branch = git(repo_dir, "rev-parse", "--abbrev-ref", "HEAD").strip()
    branch = f"model-selection/{name}-{os.environ.get('GITHUB_RUN_ID', 'local')}"
    write_candidate_config(config, candidates[name], config)
    identity = {**BOT_IDENTITY, "GIT_AUTHOR_NAME": BOT_IDENTITY["GIT_COMMITTER_NAME"]}
    identity["GIT_AUTHOR_EMAIL"] = BOT_IDENTITY["GIT_COMMITTER_EMAIL"]
    git(repo_dir, "checkout", "-b", branch)
    git(repo_dir, "add", str(config.relative_to(repo_dir)))
    title = f"Switch the model version to {name}"
    git(repo_dir, "commit", "-m", f"{title}\n\n{recommendation['message']}", env=identity)
    git(repo_dir, "push", remote, f"HEAD:refs/heads/{branch}", env=remote_auth_env(repo_dir, remote))
    body = (leaderboard.with_suffix(".md").read_text(encoding="utf-8"))[:MAX_BODY]
    pull = api.create_pull(branch, base_branch, title, body)
    return {"branch": branch, "number": pull.get("number"), "url": pull.get("html_url"), "candidate": name}
