"""Run one contestant as a child process: its wall time and the peak memory of its whole process tree.

promptfoo is Node plus Python workers, our harness one Python process, so memory is summed over the tree
(sampled every 100 ms from /proc), not taken from the biggest process alone.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Measured:
    returncode: int
    wall_s: float
    peak_rss_mb: float
    output: str


def run_measured(command: list[str], cwd: Path, env: dict[str, str], timeout_s: float = 1800) -> Measured:
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    peak = _PeakSampler(proc.pid)
    peak.start()
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    finally:
        wall = time.perf_counter() - started
        peak.stop()
        if proc.poll() is None:
            proc.kill()
    return Measured(proc.returncode, wall, peak.peak_kb / 1024, output)


class _PeakSampler(threading.Thread):
    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.peak_kb = root, 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.root))
            self._done.wait(0.1)

    def stop(self) -> None:
        self._done.set()
        self.join()


def tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants, in KiB.

    Walks down from `root` through /proc/PID/task/TID/children rather than scanning every process on the
    machine: the sampler runs beside the contestants, so it must stay cheap."""
    total, pending, seen = 0, [root], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
            for task in os.scandir(f"/proc/{pid}/task"):
                pending.extend(int(child) for child in Path(task.path, "children").read_text().split())
        except OSError:  # the process ended while we looked
            continue
    return total
