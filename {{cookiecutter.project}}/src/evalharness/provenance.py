"""Where a run came from: the commit, and which credentials it had (never their values)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CREDENTIALS = ("OPENAI_API_KEY", "JUDGE_API_KEY", "LANGSMITH_API_KEY")


def git_sha(cwd: Path | None = None) -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() or None if sha.returncode == 0 else None


def credentials() -> dict[str, bool]:
    """Which keys this run had: shows at a glance that a fork PR had none."""
    return {name: bool(os.environ.get(name)) for name in CREDENTIALS}
