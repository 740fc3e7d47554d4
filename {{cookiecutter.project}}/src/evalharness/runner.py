"""Run eval units (case x repeat) concurrently, appending each result as it finishes.

Units run in a seeded random order (the ones that must all run first), so that a run stopped early, by a
sequential look or by its cost cap, has evaluated a random sample of the rest. Stop rules (stopping.py)
are asked before each unit starts and after each one finishes.

A model or judge that is down ends the run soon: after MAX_CONSECUTIVE_ERRORS failed units in a row, or when
no call has come back for `stall_s` seconds while some are waiting (a server that accepts and never answers).
Units not yet started are cancelled; those stuck on a silent server are left behind (the workers are daemon
threads), and nothing they might still write reaches the results dir: a resume runs them again."""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalharness.calls import NotEvaluated, current_repeat
from evalharness.datasets import Case
from evalharness.experiment import CaseTrace, Tracking
from evalharness.failures import describe
from evalharness.metrics import Metric, MetricResult
from evalharness.progress import Progress
from evalharness.results import OUTPUTS_FILE, RESULTS_FILE, ResultsDir
from evalharness.target import Target, TargetOutput

# After this many infrastructure errors in a row, stop: the model or judge is down, and waiting out a
# timeout for every remaining case would only delay the same answer (exit 3).
MAX_CONSECUTIVE_ERRORS = 5


@dataclass(frozen=True)
class Unit:
    suite: str
    case: Case
    repeat: int

    @property
    def key(self) -> tuple[str, str, int]:
        return self.suite, self.case.id, self.repeat


def in_shard(suite: str, case_id: str, shard: tuple[int, int]) -> bool:
    """Deterministic and stable under dataset edits: a case's shard depends only on its own id."""
    index, count = shard
    digest = hashlib.sha256(f"{suite}/{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1


class _Workers:
    """A fixed set of daemon threads running submitted calls. Unlike a ThreadPoolExecutor, whose threads the
    interpreter waits for at exit, these can be left behind on a server that never answers."""

    def __init__(self, count: int):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._count = count
        for n in range(count):
            threading.Thread(target=self._work, name=f"eval-{n}", daemon=True).start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def close(self) -> None:
        for _ in range(self._count):
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)


def run_order(units: Iterable[Unit], seed: int, first: Callable[[Unit], bool]) -> list[Unit]:
    """`first` units in dataset order, then the others shuffled by the seed (the same seed, the same order)."""
    units = list(units)
    rest = [u for u in units if not first(u)]
    random.Random(seed).shuffle(rest)
    return [u for u in units if first(u)] + rest


WAIT = {"kind": "wait"}  # a stop rule's answer for "start nothing now; ask again when a unit finishes"


class StopRule(Protocol):
    def before_start(self, running: int, finished: int) -> dict[str, Any] | None:
        """With `running` units in flight and `finished` done by this invocation: None to start the next
        unit, WAIT to hold it until one finishes, or a reason to start no more (e.g. the cost cap)."""

    def after_finish(self, finished: int) -> dict[str, Any] | None:
        """After `finished` units of the run completed (earlier invocations included): a reason to stop
        (e.g. the verdict is certain), or None."""


@dataclass
class RunOutcome:
    ran: int
    skipped_done: int
    errors: int
    not_evaluated: int
    aborted: bool
    stopped: dict[str, Any] | None = None  # why the run stopped before its last unit (cost cap, early stop)
    stalled_s: float | None = None  # the run gave up on a server that stopped answering, after this long
    planned: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Runner:
    def __init__(
        self,
        target: Target,
        results: ResultsDir,
        metrics: dict[str, Sequence[Metric]],
        concurrency: int,
        tracking: Tracking | None = None,
        must_pass: Callable[[Case], bool] = lambda case: case.must_pass,
        stalled_for: Callable[[], float] = lambda: 0.0,
        stall_s: float = 40.0,
    ):
        self.target, self.results = target, results
        self.tracking = tracking or Tracking()  # LangSmith experiment, or off
        self.metrics = metrics  # suite -> its metrics
        self.concurrency = concurrency
        self.must_pass = must_pass
        self.stalled_for, self.stall_s = stalled_for, stall_s  # seconds the oldest waiting call has had no news
        self._lock = threading.Lock()
        self._consecutive_errors = 0

    def run(
        self,
        units: Iterable[Unit],
        label: str = "eval",
        rules: Sequence[StopRule] = (),
        on_result: Callable[[Unit, str, list[dict]], None] = lambda unit, status, rows: None,
    ) -> RunOutcome:
        """Evaluate the units not done yet; `on_result(unit, status, metric rows)` hears of each as it finishes."""
        units = list(units)
        done = self.results.completed_units()
        pending = [u for u in units if u.key not in done]
        progress = Progress(len(pending), label)
        outcome = RunOutcome(
            ran=0, skipped_done=len(units) - len(pending), errors=0, not_evaluated=0, aborted=False, planned=len(units)
        )
        waiting = iter(pending)
        workers = _Workers(self.concurrency)
        running: set[Future] = set()
        owners: dict[Future, Unit] = {}
        while True:
            while len(running) < self.concurrency * 2 and not outcome.aborted and outcome.stopped is None:
                verdict = next((r for rule in rules if (r := rule.before_start(len(running), outcome.ran))), None)
                if verdict is WAIT:
                    break
                outcome.stopped = verdict
                unit = None if outcome.stopped else next(waiting, None)
                if unit is None:
                    break
                future = workers.submit(self._evaluate, unit)
                running.add(future)
                owners[future] = unit
            if not running:
                break
            finished, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                if future.cancelled():
                    continue
                status, rows = future.result()
                on_result(owners.pop(future), status, rows)
                outcome.ran += 1
                outcome.errors += status == "error"
                outcome.not_evaluated += status == "not_evaluated"
                progress.advance(ok=status == "ok")
                if self._consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                    outcome.aborted = True
                if outcome.stopped is None:
                    finished_now = outcome.skipped_done + outcome.ran
                    outcome.stopped = next((r for rule in rules if (r := rule.after_finish(finished_now))), None)
            silent = self.stalled_for()
            if silent > self.stall_s:
                outcome.aborted, outcome.stalled_s = True, round(silent, 1)
            if outcome.aborted:
                running = {f for f in running if not f.cancel()}  # those not started yet never will
                if outcome.stalled_s is not None:  # the rest wait on a server that does not answer: leave them
                    outcome.errors += len(running)
                    self.results.stop_writing()
                    break
        workers.close()
        progress.close()
        if outcome.stopped is not None:
            outcome.stopped.setdefault("cases_run", outcome.skipped_done + outcome.ran)
            outcome.stopped.setdefault("cases_planned", len(units))
        return outcome

    def _evaluate(self, unit: Unit) -> tuple[str, list[dict]]:
        """Evaluate one unit: its status and metric rows. Never raises: every problem becomes a recorded row."""
        token = current_repeat.set(unit.repeat)  # model and judge calls of this unit are cached under its repeat
        try:
            with self.tracking.case(unit.suite, unit.case, unit.repeat) as trace:
                return self._evaluate_in_context(unit, trace)
        finally:
            current_repeat.reset(token)

    def _evaluate_in_context(self, unit: Unit, trace: CaseTrace) -> tuple[str, list[dict]]:
        base = {"suite": unit.suite, "case": unit.case.id, "repeat": unit.repeat, "attempt": uuid.uuid4().hex[:12]}
        try:
            documents = [d.model_dump() for d in unit.case.documents]
            output = self.target(unit.case.question, unit.case.history, documents)
        except NotEvaluated as exc:
            return self._record_without_output(unit, base, "not_evaluated", str(exc), trace)
        except Exception as exc:  # the system under test failed: infrastructure, not quality
            return self._record_without_output(unit, base, "error", describe(exc), trace)
        rows = []
        for metric in self.metrics[unit.suite]:
            if metric.applies(unit.case):
                rows.append({**base, **_metric_row(metric, metric.measure(unit.case, output), output)})
                self.results.append(RESULTS_FILE, rows[-1])
        statuses = {row["status"] for row in rows}
        status = "error" if "error" in statuses else "not_evaluated" if "not_evaluated" in statuses else "ok"
        output_row = {**base, **_output_row(unit, output), "status": status}
        if self.must_pass(unit.case):
            output_row["must_pass"] = True
        self.results.append(OUTPUTS_FILE, output_row)
        trace.end(output_row, rows)
        self._note(status)
        return status, rows

    def _record_without_output(
        self, unit: Unit, base: dict, status: str, reason: str, trace: CaseTrace
    ) -> tuple[str, list[dict]]:
        rows = []
        for metric in self.metrics[unit.suite]:
            if metric.applies(unit.case):
                rows.append({**base, **_metric_row(metric, MetricResult(status=status, reason=reason), None)})
                self.results.append(RESULTS_FILE, rows[-1])
        row = {**base, "status": status, "reason": reason, "input": unit.case.question, "tags": unit.case.tags}
        if self.must_pass(unit.case):
            row["must_pass"] = True
        self.results.append(OUTPUTS_FILE, row)
        trace.end(None, [], error=reason)
        self._note(status)
        return status, rows

    def _note(self, status: str) -> None:
        with self._lock:
            self._consecutive_errors = self._consecutive_errors + 1 if status == "error" else 0


def _metric_row(metric: Metric, result: MetricResult, output: TargetOutput | None) -> dict:
    return {
        "metric": metric.name,
        "kind": metric.kind,
        "status": result.status,
        "score": result.score,
        "passed": result.passed,
        "threshold": result.threshold,
        "reason": result.reason,
        "details": result.details,
        "provider": output.provider if output else None,
        "model": output.model if output else None,
    }


def _output_row(unit: Unit, output: TargetOutput) -> dict:
    return {
        "input": unit.case.question,
        "tags": unit.case.tags,
        "answer": output.answer,
        "sources": output.sources,
        "provider": output.provider,
        "model": output.model,
        "latency_ms": output.latency_ms,
        "usage": output.usage,
        "cost_usd": output.metadata.get("cost_usd"),
        "cached": output.cached,
    }
