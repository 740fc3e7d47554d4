"""The template's own code (hooks, tests) meets the same lint bar as the projects it bakes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import TEMPLATE_DIR


@pytest.mark.parametrize("ruff_args", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_template_code_is_lint_clean(ruff_args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *ruff_args, "hooks", "tests"], cwd=TEMPLATE_DIR, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
