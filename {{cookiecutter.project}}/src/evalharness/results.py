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

One run writes a dir at a time (an advisory lock, `.lock`, released by the kernel when its process dies).
When a run ends, summary.json records each file's size, rows and sha256 (`integrity`): `verify()` checks
them before a dir is judged, so a truncated, doubled or partly uploaded dir is bad input (exit 2), never
a verdict.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from yamlcheck import FileError

RUN_FILE, RESULTS_FILE, OUTPUTS_FILE, SUMMARY_FILE = "run.json", "results.jsonl", "outputs.jsonl", "summary.json"
PROMPTFOO_SUMMARY = "promptfoo-summary.json"  # a second engine's outcome, when one ran into the dir: the gate reads it
SCHEMA_VERSION = 1
RERUN_STATUSES = {"error", "not_evaluated"}  # a resumed run tries these units again
LOCK_FILE = ".lock"
ROW_FILES = (RESULTS_FILE, OUTPUTS_FILE)

Row = dict[str, Any]


def newest(root: Path = Path("results")) -> Path | None:
    """The results dir under `root` (any depth) whose run ended last: what `report` shows when none is named."""
    finished = [summary.parent for summary in root.rglob(SUMMARY_FILE)] if root.is_dir() else []
    return max(finished, key=lambda d: (d / SUMMARY_FILE).stat().st_mtime, default=None)


def unit_key(row: Row) -> tuple[str, str, int]:
    return row["suite"], row["case"], int(row["repeat"])


class ResultsDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._writing = True
        self._files: dict[str, int] = {}  # row file -> its append descriptor, open while the run writes

    # ------------------------------------------------------------ writing

    def start(self, identity: dict[str, Any]) -> None:
        """Create the dir, or check that an existing one belongs to the same run (same content hashes); take
        the dir's lock for this process (another run on it is refused)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._take_lock()
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
            write_json(run_file, {"schema": SCHEMA_VERSION, "identity": identity})
        for name in (RESULTS_FILE, OUTPUTS_FILE):
            _cut_torn_tail(self.path / name)

    def _take_lock(self) -> None:
        handle = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the life of the run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise FileError(
                self.path, None, f"another run is writing this results dir ({owner}): wait for it, or use a new RESULTS"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle

    def finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The end of a run: fsync the rows, write summary.json with their integrity record, let go of the dir."""
        self.sync()
        summary = {**summary, "integrity": integrity(self.path)}  # last: the rows as this run left them
        write_json(self.path / SUMMARY_FILE, summary)
        self.release()
        return summary

    def release(self) -> None:
        """Give the dir's lock back (the end of a run; a killed process's lock goes with it)."""
        with self._lock:
            self._close_files()
        handle = getattr(self, "_lock_handle", None)
        if handle is not None:
            handle.close()
            self._lock_handle = None

    def append(self, name: str, row: Row) -> None:
        # One write(2) per row on a descriptor held open for the run (O_APPEND): through to the OS at once,
        # so a killed or crashed run keeps every finished row. Not fsynced per row (two fsyncs per case cost
        # seconds per thousand cases): after a power loss the last rows may be cut, and a resume runs those
        # cases again. `sync()` makes the whole run durable at its end.
        line = (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode()
        with self._lock:
            if not self._writing:
                return  # the run gave up on this unit (a silent server): a resume evaluates it again
            fd = self._files.get(name)
            if fd is None:
                fd = self._files[name] = os.open(self.path / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(fd, line)

    def stop_writing(self) -> None:
        """No row is written after this: units left running when a run gives up cannot change it."""
        with self._lock:
            self._writing = False
            self._close_files()

    def _close_files(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

    def sync(self) -> None:
        with self._lock:
            self._close_files()  # the rows are complete: what follows reads them
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

    def read(self) -> tuple[dict[tuple[str, str, int], Row], list[Row]]:
        """outputs() and results() from one read of each file (what a comparison needs)."""
        outputs = self.outputs()
        return outputs, self.results(outputs)

    def completed_units(self) -> set[tuple[str, str, int]]:
        return {key for key, row in self.outputs().items() if row["status"] not in RERUN_STATUSES}

    def results(self, outputs: dict[tuple[str, str, int], Row] | None = None) -> list[Row]:
        """Metric rows of completed units only, the latest row per unit x metric, in a stable order."""
        outputs = self.outputs() if outputs is None else outputs
        latest: dict[tuple, Row] = {}
        for row in read_jsonl(self.path / RESULTS_FILE):
            key = unit_key(row)
            if key in outputs and row.get("attempt") == outputs[key].get("attempt"):
                latest[(*key, row["metric"])] = row
        return [latest[k] for k in sorted(latest)]


def read_jsonl(path: Path, strict: bool = False) -> Iterable[Row]:
    """The rows of a JSON Lines file. A torn last line is a crash's leftover and skipped while a run may go
    on; `strict` (a finished run, about to be judged) makes it an error like any other bad line."""
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                if strict:
                    raise FileError(path, number, "the last line is cut off: the file was truncated")
                break  # a torn last line from a crash: that row never completed
            try:
                row = _loads(line)
            except ValueError:
                raise FileError(path, number, "not valid JSON: the results dir is corrupt") from None
            if not isinstance(row, dict) or "suite" not in row or "case" not in row or "repeat" not in row:
                raise FileError(path, number, "not a results row (suite, case and repeat expected)")
            rows.append(row)
    return rows


try:  # the same rows, parsed several times faster (a dependency of the LangSmith SDK); else the standard library
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on what is installed
    _loads = json.loads


def integrity(path: Path) -> dict[str, dict[str, Any]]:
    """Size, rows and sha256 of each row file: what summary.json records when a run ends."""
    record = {}
    for name in ROW_FILES:
        data = (path / name).read_bytes() if (path / name).is_file() else b""
        record[name] = {"bytes": len(data), "rows": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()}
    return record


def verify(path: Path, summary: dict[str, Any] | None) -> list[str]:
    """Check a finished results dir before it is judged; raise FileError naming the file and line of the
    first problem. Returns notes (e.g. a dir written before integrity was recorded)."""
    if summary is None:
        raise FileError(path / SUMMARY_FILE, None, "missing: the run did not finish (resume it into the same dir)")
    recorded = summary.get("integrity")
    notes = []
    if recorded is None:
        notes.append(f"{path}: no integrity record (written by an older harness): rows checked, not their checksums")
    actual_record = integrity(path)
    for name in ROW_FILES:
        file = path / name
        actual, expected = actual_record[name], (recorded or {}).get(name) or {}
        if recorded is not None and actual == expected:
            continue  # byte for byte what the run's one writer sealed: its rows were checked as it wrote them
        _no_duplicates(file, list(read_jsonl(file, strict=True)))  # names the first bad line, if any
        if recorded is not None:  # every line parses, yet the bytes differ from the seal
            raise FileError(
                file,
                actual["rows"] or None,
                f"ends after {actual['rows']} rows ({actual['bytes']} bytes), but the run recorded "
                f"{expected.get('rows')} rows ({expected.get('bytes')} bytes): the file was cut or changed "
                "after the run (download the artifact again, or re-run the evals)",
            )
    return notes


def _no_duplicates(file: Path, rows: list[Row]) -> None:
    """Each unit has one completed row (a resume adds rows only for units that errored), and each metric
    one row per attempt: anything else means two runs wrote the same dir."""
    seen: dict[tuple, int] = {}
    for number, row in enumerate(rows, start=1):
        if file.name == OUTPUTS_FILE:
            if row.get("status") in RERUN_STATUSES:
                continue
            key: tuple = unit_key(row)
        else:
            key = (*unit_key(row), row.get("metric"), row.get("attempt"))
        if key in seen:
            raise FileError(
                file,
                number,
                f"duplicate row for {'/'.join(map(str, key[:3]))} (first on line {seen[key]}): "
                "two runs wrote into this dir; run the evals again into a new one",
            )
        seen[key] = number


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
