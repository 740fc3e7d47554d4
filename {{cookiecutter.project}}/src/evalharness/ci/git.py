"""git through subprocess, with explicit arguments (never a shell) and its own error type.

CI checkouts keep no credentials (`persist-credentials: false`) and configure no identity, so the two commands
that need them get them here, for that command only: the remote commands (ls-remote, push) authenticate with
GITHUB_TOKEN as an http.extraheader passed through git's GIT_CONFIG_* environment (never in the arguments or
the remote URL), and only towards the GitHub server (GITHUB_SERVER_URL); a tag made without a configured
identity is made by github-actions[bot].
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from evalharness.ci.errors import InfraError

TIMEOUT_S = 120  # a push over a slow network; nothing may hang CI forever
BOT_IDENTITY = {
    "GIT_COMMITTER_NAME": "github-actions[bot]",
    "GIT_COMMITTER_EMAIL": "41898282+github-actions[bot]@users.noreply.github.com",
}


class GitError(InfraError):
    def __init__(self, args: list[str], returncode: int | None, stderr: str):
        self.args_, self.returncode, self.stderr = args, returncode, _redact(stderr.strip())
        super().__init__(f"`git {' '.join(args)}` failed ({returncode}): {self.stderr or 'no output'}")


def git(repo_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run `git <args>` in repo_dir and return its stdout; GitError (exit 3) when git fails."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=repo_dir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env={**os.environ, **(env or {}), "GIT_TERMINAL_PROMPT": "0"},  # fail, never wait for a password
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(list(args), None, str(exc)) from None
    if proc.returncode != 0:
        raise GitError(list(args), proc.returncode, proc.stderr)
    return proc.stdout


def head_sha(repo_dir: Path) -> str:
    return git(repo_dir, "rev-parse", "--verify", "HEAD^{commit}").strip()


def local_tag_exists(repo_dir: Path, tag: str) -> bool:
    try:
        git(repo_dir, "rev-parse", "--quiet", "--verify", f"refs/tags/{tag}")
    except GitError as exc:
        if exc.returncode == 1:
            return False
        raise
    return True


def remote_tag_exists(repo_dir: Path, remote: str, tag: str) -> bool:
    out = git(repo_dir, "ls-remote", "--tags", remote, f"refs/tags/{tag}", env=remote_auth_env(repo_dir, remote))
    return bool(out.strip())


def push_tag(repo_dir: Path, remote: str, tag: str) -> None:
    git(repo_dir, "push", remote, f"refs/tags/{tag}", env=remote_auth_env(repo_dir, remote))


def remote_auth_env(repo_dir: Path, remote: str) -> dict[str, str]:
    """GITHUB_TOKEN as an extra HTTP header for an https remote on the GitHub server; nothing otherwise."""
    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        return {}
    try:
        url = git(repo_dir, "remote", "get-url", remote).strip()
    except GitError:
        url = remote  # a URL given instead of a remote name
    target, server = urlsplit(url), urlsplit(os.environ.get("GITHUB_SERVER_URL") or "https://github.com")
    if target.scheme != "https" or (target.hostname, target.port) != (server.hostname, server.port):
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    n = int(os.environ.get("GIT_CONFIG_COUNT") or 0)  # keep any entries the caller set
    return {
        "GIT_CONFIG_COUNT": str(n + 1),
        f"GIT_CONFIG_KEY_{n}": f"http.https://{server.netloc}/.extraheader",
        f"GIT_CONFIG_VALUE_{n}": f"AUTHORIZATION: basic {basic}",
    }


def tagger_env(repo_dir: Path) -> dict[str, str]:
    """The Actions bot as tagger when git has no identity configured (a fresh CI runner)."""
    if os.environ.get("GIT_COMMITTER_EMAIL"):
        return {}
    try:
        git(repo_dir, "config", "user.email")
    except GitError as exc:
        if exc.returncode == 1:  # not set
            return dict(BOT_IDENTITY)
        raise
    return {}


def _redact(text: str) -> str:
    """A remote URL with a token in it may appear in git's messages: the token never does."""
    token = os.environ.get("GITHUB_TOKEN")
    return text.replace(token, "***") if token else text
