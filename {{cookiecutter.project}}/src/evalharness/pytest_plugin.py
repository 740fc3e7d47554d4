"""Eval suites as pytest tests, collected from evals/eval.yaml itself: one item per suite, so a suite is
named in one place (`pytest evals` and `evalharness run` are the same run).

A case is data inside its suite's item, not an item of its own: pytest's per-test machinery costs about as
much CPU as evaluating a cached case, and would double a warm run. `-k` (and EVAL_SELECT) still chooses
cases: the expression is matched against each case's suite name, id and tags, and suites left with no case
are deselected.

The selected cases run concurrently in the background from the first item on (so a run approaches N·L/C,
not N·L), in the run's own order; each item waits for the cases of its suite, then reports them. A case
below its per-case thresholds is data for the gate, not a broken test: the item passes and lists what was
missed (EVAL_STRICT=true fails it instead). An infrastructure error fails the item; a suite whose cases were
all not evaluated (replay misses) or not run (the run stopped early) is skipped, with the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression  # what -k compiles to; no public name (pytest 9)

from evalharness.datasets import Case
from evalharness.options import RunOptions, env
from evalharness.run import Inputs, Run, close, connect, execute, prepare, units
from evalharness.runner import RunOutcome, Unit, in_shard

RUN_KEY = pytest.StashKey["EvalRun"]()
SHOWN = 5  # cases named in an item's message; the results dir has them all


@dataclass
class EvalRun:
    """The run behind one pytest session: started once the items are chosen, finished with the session."""

    inputs: Inputs
    run: Run | None = None
    outcome: RunOutcome | None = None
    summary: dict = field(default_factory=dict)
    chosen: set[tuple[str, str]] | None = None  # (suite, case id) picked by -k / EVAL_SELECT; None: all
    pending: dict[str, int] = field(default_factory=dict)  # suite -> units still to come
    rows: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # suite -> case id -> its rows
    done: dict[str, threading.Event] = field(default_factory=dict)  # suite -> all its units are in
    thread: threading.Thread | None = None
    failure: BaseException | None = None

    def cases(self, suite: str) -> list[Case]:
        """The cases of a suite this run evaluates (this shard, the selection)."""
        shard = self.inputs.options.shard
        return [
            case
            for case in self.inputs.datasets[suite].cases
            if in_shard(suite, case.id, shard) and (self.chosen is None or (suite, case.id) in self.chosen)
        ]

    def start(self, selected: list[Unit]) -> None:
        if self.run is None:
            self.run = connect(self.inputs)
        for unit in selected:
            self.pending[unit.suite] = self.pending.get(unit.suite, 0) + 1
            self.done.setdefault(unit.suite, threading.Event())
        self.thread = threading.Thread(target=self._execute, args=(selected,), name="eval-run", daemon=True)
        self.thread.start()

    def _execute(self, selected: list[Unit]) -> None:
        try:
            self.outcome = execute(self.run, selected, self._arrived)
        except BaseException as exc:
            self.failure = exc
        finally:
            for event in self.done.values():
                event.set()  # what never came will not come: the items say so

    def _arrived(self, unit: Unit, status: str, rows: list[dict]) -> None:
        cases = self.rows.setdefault(unit.suite, {})
        cases.setdefault(unit.case.id, []).extend(rows or [{"status": status, "metric": "-", "reason": status}])
        self.pending[unit.suite] -= 1
        if self.pending[unit.suite] <= 0:
            self.done[unit.suite].set()

    def finish(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.run is not None and self.outcome is not None:
            self.summary = close(self.run, self.outcome)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "eval(suite): an eval suite (collected from evals/eval.yaml)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name == "eval.yaml" and file_path.parent.name == "evals":
        return SuitesFile.from_parent(parent, path=file_path)
    return None


class SuitesFile(pytest.File):
    def collect(self):
        eval_run = self.config.stash.get(RUN_KEY, None)
        if eval_run is None:  # `pytest evals`: the run is asked for by the EVAL_* variables
            eval_run = EvalRun(prepare(RunOptions.from_env(config=_relative(Path(self.path)))))
            self.config.stash[RUN_KEY] = eval_run
        for suite in eval_run.inputs.datasets:
            item = SuiteItem.from_parent(self, name=suite)
            item.add_marker(pytest.mark.eval(suite))
            yield item


class SuiteItem(pytest.Item):
    def runtest(self) -> None:
        eval_run = self.config.stash[RUN_KEY]
        if self.name not in eval_run.done:
            pytest.skip("no case of this suite in this shard")
        eval_run.done[self.name].wait()
        if eval_run.failure is not None:
            raise eval_run.failure
        planned = eval_run.cases(self.name)
        got = eval_run.rows.get(self.name, {})
        errors = {case: rows for case, rows in got.items() if any(r["status"] == "error" for r in rows)}
        if errors:
            reasons = [
                f"{case}: {next(r['reason'] for r in rows if r['status'] == 'error')}" for case, rows in errors.items()
            ]
            pytest.fail(
                f"infrastructure error (not a quality verdict) in {len(errors)} of {len(planned)} cases:\n"
                + _listing(reasons),
                pytrace=False,
            )
        evaluated = {c: rows for c, rows in got.items() if not all(r["status"] == "not_evaluated" for r in rows)}
        if not evaluated:
            if got:
                first = next(iter(got.values()))[0]
                pytest.skip(f"not evaluated: {first['reason']}")
            stopped = eval_run.outcome is not None and eval_run.outcome.stopped
            pytest.skip(f"not run: {'the run stopped early' if stopped else 'it stopped'} (see the run's summary)")
        missed = [
            f"{case}: " + "; ".join(f"{r['metric']} {r['score']:.2f} < {r['threshold']} ({r['reason']})" for r in bad)
            for case, rows in evaluated.items()
            if (bad := [r for r in rows if r["status"] == "ok" and not r["passed"]])
        ]
        self.user_properties += [("cases", len(evaluated)), ("planned", len(planned)), ("missed", len(missed))]
        if missed and env("EVAL_STRICT").lower() == "true":
            pytest.fail(
                f"{len(missed)} of {len(evaluated)} cases below their thresholds:\n" + _listing(missed), pytrace=False
            )

    def reportinfo(self):
        return self.path, None, f"suite {self.name}"


def _listing(lines: list[str]) -> str:
    more = f"\n  ... and {len(lines) - SHOWN} more (the results dir has them all)" if len(lines) > SHOWN else ""
    return "\n".join(f"  {line}" for line in lines[:SHOWN]) + more


def matching_cases(expression: str, inputs: Inputs) -> set[tuple[str, str]]:
    """The (suite, case id) pairs a -k expression picks: like pytest's -k, a name matches when it contains
    the word, case-insensitively; a case's names are its suite, its id, `suite/id` and its tags."""
    compiled = Expression.compile(expression)
    return {
        (suite, case.id)
        for suite, dataset in inputs.datasets.items()
        for case in dataset.cases
        if compiled.evaluate(_Names([suite, case.id, f"{suite}/{case.id}", *case.tags]))
    }


class _Names:
    def __init__(self, names: Iterable[str]):
        self.names = [name.lower() for name in names]

    def __call__(self, word: str, /, **kwargs) -> bool:
        if kwargs:
            raise pytest.UsageError("-k over eval cases takes words, not call parameters")
        word = word.lower()
        return any(word in name for name in self.names)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before pytest's own -k: the expression chooses cases, not suites (it is used up here, so pytest does
    not deselect a suite for its name); suites left without a case are deselected."""
    eval_run = config.stash.get(RUN_KEY, None)
    if eval_run is None:
        return
    expressions = [e for e in (eval_run.inputs.options.select, config.option.keyword) if e]
    if not expressions:
        return
    config.option.keyword = ""
    eval_run.chosen = matching_cases(" and ".join(f"({e})" for e in expressions), eval_run.inputs)
    keep = [i for i in items if not isinstance(i, SuiteItem) or any(s == i.name for s, _ in eval_run.chosen)]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """The items are final (after -k, -m and every plugin): start the run on the cases of the suites kept."""
    eval_run = session.config.stash.get(RUN_KEY, None)
    suites = {item.name for item in session.items if isinstance(item, SuiteItem)}
    if eval_run is None or not suites or session.config.option.collectonly:
        return
    chosen = {(suite, case.id) for suite in suites for case in eval_run.cases(suite)}
    selected = units(eval_run.inputs, chosen)
    if eval_run.run is None:
        eval_run.run = connect(eval_run.inputs)
    eval_run.start(selected)  # execute() puts them in the run's order


def _relative(path: Path) -> Path:
    """evals/eval.yaml as the project sees it (messages then name `evals/eval.yaml:LINE`)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def pytest_sessionfinish(session: pytest.Session) -> None:
    eval_run = session.config.stash.get(RUN_KEY, None)
    if eval_run is not None and eval_run.thread is not None:
        eval_run.finish()
