"""The latency server as a child process, and its two control calls (call count, latency)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[2]


class ServerControl:
    def __init__(self, url: str):
        self.url = url  # ends in /v1, as OpenAI clients want it
        self._root = url.removesuffix("/v1")

    def calls(self) -> int:
        with urllib.request.urlopen(f"{self._root}/stats", timeout=10) as response:
            return json.load(response)["calls"]

    def reset(self, latency_ms: float | None = None) -> None:
        body = {} if latency_ms is None else {"latency_ms": latency_ms}
        request = urllib.request.Request(f"{self._root}/control", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


@contextlib.contextmanager
def latency_server(latency_ms: float, jitter_ms: float, workdir: Path) -> Iterator[ServerControl]:
    port_file = workdir / "server.url"
    port_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "tests.benchmarks.latency_server", "--latency-ms", str(latency_ms),
               "--jitter-ms", str(jitter_ms), "--port-file", str(port_file)]  # fmt: skip
    proc = subprocess.Popen(command, cwd=TEMPLATE_DIR)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the latency server did not start")
            time.sleep(0.05)
        yield ServerControl(port_file.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
