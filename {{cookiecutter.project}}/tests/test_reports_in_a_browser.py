"""report.html and leaderboard.html opened in a real headless Chromium (Debian's `chromium`): the case filter
runs, and screenshots are taken and checked (right size, not blank). The browser gets file:// pages only,
and any network request it might make goes to a dead loopback proxy."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from evalharness.gate import evaluate
from evalharness.report import write_reports
from evalharness.selection.render import write_leaderboard

from tests.test_gate import SETTINGS, results_dir
from tests.test_selection import GOOD, board

pytestmark = pytest.mark.slow
WIDTH, HEIGHT = 1000, 1400


def chromium() -> str:
    names = ("chromium", "chromium-browser", "google-chrome")  # Debian's, Ubuntu's, a GitHub runner's
    found = next((path for name in names if (path := shutil.which(name))), None)
    if found is None:
        assert os.environ.get("CI") != "true", "CI must have Debian's chromium (apt-get install chromium)"
        pytest.skip("no chromium here (apt-get install chromium)")
    return found


def browse(page: Path, *args: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",  # containers and CI runners have no user namespaces for its sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=127.0.0.1:9",  # nothing listens there: no request can leave the machine
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={page.parent / '.chromium'}",
        f"--window-size={WIDTH},{HEIGHT}",
    ]
    command = [chromium(), *flags, *args, page.resolve().as_uri() + fragment]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def png_size_and_variety(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct bytes in the pixel data: a blank page has a handful."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    pixels, offset = b"", 8
    while offset < len(data):
        (length,), kind = struct.unpack(">I", data[offset : offset + 4]), data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            pixels += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return width, height, len(set(zlib.decompress(pixels)))


@pytest.fixture
def report(tmp_path: Path) -> Path:
    base = {"worse": (1.0, 1.0), "broken": (0.5, 1.0), "same": (1.0, 1.0), "same2": (1.0, 1.0)}
    head = {**base, "worse": (0.5, 1.0)}
    verdict = evaluate(SETTINGS, results_dir(tmp_path / "head", head), results_dir(tmp_path / "base", base))
    return write_reports(tmp_path / "head", verdict)["report.html"]


def test_the_case_filter_runs_in_the_browser_and_a_link_keeps_it(report: Path) -> None:
    everything = browse(report, "--dump-dom").stdout
    assert re.search(r'id="case-count"[^>]*>4 of 4 cases<', everything), everything[-2000:]
    worse = browse(report, "--dump-dom", fragment="#change=worse").stdout
    assert re.search(r'id="case-count"[^>]*>1 of 4 cases<', worse)
    shown = re.findall(r'<details data-change="(\w+)"[^>]*?(hidden="")?>', worse)
    assert sorted((change, bool(hidden)) for change, hidden in shown) == [
        ("failing", True),
        ("same", True),
        ("same", True),
        ("worse", False),
    ]
    searched = browse(report, "--dump-dom", fragment="#q=question%20broken").stdout
    assert re.search(r'id="case-count"[^>]*>1 of 4 cases<', searched)


def test_screenshots_of_the_report_and_the_leaderboard_are_not_blank(report: Path, tmp_path: Path) -> None:
    tied = board(tmp_path / "runs", {name: (GOOD, 0.0) for name in ("current", "twin", "triplet")})
    leaderboard = write_leaderboard(tmp_path / "selection", tied)["html"]
    for page in (report, leaderboard):
        shot = tmp_path / f"{page.stem}.png"
        browse(page, f"--screenshot={shot}")
        width, height, variety = png_size_and_variety(shot)
        assert (width, height) == (WIDTH, HEIGHT)
        assert variety > 64, f"{shot} looks blank ({variety} distinct byte values)"
    text = browse(leaderboard, "--dump-dom").stdout
    assert "Model selection: TIE" in text and text.count('class="label"') == 3
