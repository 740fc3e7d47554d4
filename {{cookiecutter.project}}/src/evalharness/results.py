"""The results dir: append-only, crash-safe JSON Lines plus the run's identity.

    run.json        what was evaluated (content hashes, repeats, shard): a resume must match it
    results.jsonl   one row per case x repeat x metric, appended as each finishes
    outputs.jsonl   one row per case x repeat (the answer, sources, provenance), appended after its metrics:
                    its presence marks the unit complete, so a resumed run skips exactly the finished units
    summary.json    aggregates, written when a run ends (and by merge)

A `kill -9` can leave at most one torn line at the end of a file; it is cut off before appending again,
and rows of units that never completed are ignored on reading, so the aggregate of a resumed run equals
that of an uninterrupted one. Rows are fsynced when the run ends, not one by one: a power cut during a
run may lose its last seconds of rows (run the evals again into a new dir).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from yamlcheck import FileError

RUN_FILE, RESULTS_FILE, OUTPUTS_FILE, SUMMARY_FILE = "run.json", "results.jsonl", "outputs.jsonl", "summary.json"
SCHEMA_VERSION = 1
RERUN_STATUSES = {"error", "not_evaluated"}  # a resumed run tries these units again

Row = dict[str, Any]


def unit_key(row: Row) -> tuple[str, str, int]:
    return row["suite"], row["case"], int(row["repeat"])


class ResultsDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ writing

    def start(self, identity: dict[str, Any]) -> None:
        """Create the dir, or check that an existing one belongs to the same run (same content hashes)."""
        run_file = self.path / RUN_FILE
        if run_file.exists():
            try:
                recorded = json.loads(run_file.read_text(encoding="utf-8"))["identity"]
            except (ValueError, KeyError, TypeError):
                raise FileError(run_file, None, "not a results dir run file (corrupt JSON)") from None
            if recorded != identity:
                changed = sorted(k for k in identity.keys() | recorded.keys() if identity.get(k) != recorded.get(k))
                raise FileError(
                    run_file,
                    None,
                    f"this results dir holds another run (differs in: {', '.join(changed)}); use a new RESULTS dir",
                )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            write_json(run_file, {"schema": SCHEMA_VERSION, "identity": identity})
        for name in (RESULTS_FILE, OUTPUTS_FILE):
            _cut_torn_tail(self.path / name)

    def append(self, name: str, row: Row) -> None:
        # Written through to the OS at once, so a killed or crashed run keeps every finished row. Not fsynced
        # per row (two fsyncs per case cost seconds per thousand cases): after a power loss the last rows
        # may be cut, and a resume runs those cases again. `sync()` makes the whole run durable at its end.
        line = json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock, open(self.path / name, "a", encoding="utf-8") as handle:
            handle.write(line)

    def sync(self) -> None:
        for name in (RESULTS_FILE, OUTPUTS_FILE):
            if (self.path / name).is_file():
                with open(self.path / name, "rb") as handle:
                    os.fsync(handle.fileno())

    # ------------------------------------------------------------ reading

    def identity(self) -> dict[str, Any]:
        return json.loads((self.path / RUN_FILE).read_text(encoding="utf-8"))["identity"]

    def outputs(self) -> dict[tuple[str, str, int], Row]:
        """The latest output row of every unit that completed."""
        return {unit_key(row): row for row in read_jsonl(self.path / OUTPUTS_FILE)}

    def completed_units(self) -> set[tuple[str, str, int]]:
        return {key for key, row in self.outputs().items() if row["status"] not in RERUN_STATUSES}

    def results(self) -> list[Row]:
        """Metric rows of completed units only, the latest row per unit x metric, in a stable order."""
        outputs = self.outputs()
        latest: dict[tuple, Row] = {}
        for row in read_jsonl(self.path / RESULTS_FILE):
            key = unit_key(row)
            if key in outputs and row.get("attempt") == outputs[key].get("attempt"):
                latest[(*key, row["metric"])] = row
        return [latest[k] for k in sorted(latest)]


def read_jsonl(path: Path) -> Iterable[Row]:
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                break  # a torn last line from a crash: that row never completed
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise FileError(path, number, "not valid JSON: the results dir is corrupt") from None
    return rows


def write_json(path: Path, payload: Any) -> None:
    """Write atomically: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _cut_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
