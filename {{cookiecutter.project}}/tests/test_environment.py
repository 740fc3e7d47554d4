"""Every variable the harness reads is EVAL_-prefixed and listed in docs/reference.md "Environment", and the table lists
nothing the code no longer reads (read from the source itself, so a new variable cannot go undocumented)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VARIABLE = re.compile(r"\bEVAL_[A-Z][A-Z_]*[A-Z]\b")


def _used() -> set[str]:
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / ".github").rglob("*.yml"), ROOT / "Makefile"]
    return {name for path in files for name in VARIABLE.findall(path.read_text(encoding="utf-8"))}


def _documented() -> set[str]:
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Environment\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| `EVAL_")]
    return {name for row in rows for name in VARIABLE.findall(row.split("|")[1])}


def test_every_harness_variable_is_documented_and_every_documented_one_is_read() -> None:
    used, documented = _used(), _documented()
    assert len(used) > 15
    assert used - documented == set(), "read by the code but missing from docs/reference.md 'Environment'"
    assert documented - used == set(), "listed in docs/reference.md 'Environment' but read nowhere"


def test_run_options_name_only_documented_variables() -> None:
    from evalharness.options import VARIABLES

    assert set(VARIABLES) <= _documented()


def test_the_make_short_names_become_eval_variables() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    short = re.search(r"^SHORT_NAMES := (.+)$", makefile, re.M).group(1).split()
    assert {f"EVAL_{name}" for name in short} <= _documented()


def test_the_loopback_guard_refuses_other_hosts_here_and_in_child_processes(tmp_path: Path) -> None:
    from tests.loopback import loopback_guard

    before = len(loopback_guard.ATTEMPTS)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # TEST-NET-1: refused before any packet
    with pytest.raises(OSError):
        socket.getaddrinfo("api.smith.langchain.com", 443)  # the lookup alone would leave the machine
    assert len(loopback_guard.ATTEMPTS) == before + 2
    del loopback_guard.ATTEMPTS[before:]  # seen and expected: not a failure of this test

    child = "import socket\ntry:\n    socket.getaddrinfo('example.com', 80)\nexcept OSError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout
    assert "loopback guard refused" in out
    log = Path(os.environ[loopback_guard.LOG_VARIABLE])
    assert "example.com" in log.read_text()
    log.unlink()

    with socket.create_server(("127.0.0.1", 0)) as server:  # loopback stays open
        socket.create_connection(server.getsockname(), timeout=1).close()
    assert loopback_guard.is_loopback("::1") and loopback_guard.is_loopback("localhost")
    assert not loopback_guard.is_loopback("10.0.0.1") and not loopback_guard.is_loopback("example.com")
