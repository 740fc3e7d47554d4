"""Eval suites as pytest tests, collected from evals/eval.yaml itself: one item per case of each suite, so a
suite is named in one place (`pytest evals -k refund` works as usual; `evalharness run` is the same run).

The cases of the selected items run concurrently in the background from the first item on (so a run
approaches N·L/C, not N·L), in the run's own order, which the items follow: each item reports as soon as its
case is done, while the rest are still waiting on the model. A case below its per-case thresholds is data
for the gate, not a broken test: it passes, and says what it missed (EVAL_STRICT=true fails it instead).
An infrastructure error fails its item; a case not evaluated (a replay miss) or not run (the run stopped
early) is skipped, with the reason.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evalharness.datasets import Case
from evalharness.options import RunOptions, env
from evalharness.run import Inputs, Run, close, connect, execute, prepare, runs_in_full, units
from evalharness.runner import RunOutcome, Unit, in_shard, run_order

RUN_KEY = pytest.StashKey["EvalRun"]()


@dataclass
class EvalRun:
    """The run behind one pytest session: started by the first item, finished with the session."""

    inputs: Inputs
    run: Run | None = None
    outcome: RunOutcome | None = None
    summary: dict = field(default_factory=dict)
    pending: dict[tuple[str, str], int] = field(default_factory=dict)  # case -> repeats still to come
    rows: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    done: dict[tuple[str, str], threading.Event] = field(default_factory=dict)
    thread: threading.Thread | None = None
    failure: BaseException | None = None

    def start(self, selected: list[Unit]) -> None:
        if self.run is None:
            self.run = connect(self.inputs)
        for unit in selected:
            key = (unit.suite, unit.case.id)
            self.pending[key] = self.pending.get(key, 0) + 1
            self.done.setdefault(key, threading.Event())
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
        key = (unit.suite, unit.case.id)
        self.rows.setdefault(key, []).extend(rows or [{"status": status, "metric": "-", "reason": status}])
        self.pending[key] -= 1
        if self.pending[key] <= 0:
            self.done[key].set()

    def finish(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.run is not None and self.outcome is not None:
            self.summary = close(self.run, self.outcome)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "eval(suite): one case of an eval suite (collected from evals/eval.yaml)")


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
        inputs = eval_run.inputs
        for suite, dataset in inputs.datasets.items():
            for case in dataset.cases:
                if in_shard(suite, case.id, inputs.options.shard):
                    item = CaseItem.from_parent(self, name=f"{suite}/{case.id}", suite=suite, case=case)
                    item.add_marker(pytest.mark.eval(suite))
                    yield item


class CaseItem(pytest.Item):
    def __init__(self, *, suite: str, case: Case, **kwargs):
        super().__init__(**kwargs)
        self.suite, self.case = suite, case
        self.keywords.update({suite: True, **dict.fromkeys(case.tags, True)})  # -k by suite, case id or tag

    def runtest(self) -> None:
        eval_run = self.config.stash[RUN_KEY]
        key = (self.suite, self.case.id)
        eval_run.done[key].wait()
        if eval_run.failure is not None:
            raise eval_run.failure
        rows = eval_run.rows.get(key)
        if rows is None:  # never silently green: a case the run did not reach
            reason = "the run stopped early" if eval_run.outcome and eval_run.outcome.stopped else "it stopped"
            pytest.skip(f"not run: {reason} (see the run's summary)")
        errors = [r for r in rows if r["status"] == "error"]
        if errors:
            pytest.fail(f"infrastructure error (not a quality verdict): {errors[0]['reason']}", pytrace=False)
        if all(r["status"] == "not_evaluated" for r in rows):
            pytest.skip(f"not evaluated: {rows[0]['reason']}")
        missed = [r for r in rows if r["status"] == "ok" and not r["passed"]]
        if missed:
            lines = "; ".join(f"{r['metric']} {r['score']:.2f} < {r['threshold']} ({r['reason']})" for r in missed)
            self.user_properties.append(("missed", lines))
            if env("EVAL_STRICT").lower() == "true":
                pytest.fail(f"{lines}\n  question: {self.case.question!r}", pytrace=False)

    def reportinfo(self):
        return self.path, None, f"{self.suite}/{self.case.id}"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """After -k and the like: the eval items in the run's own order, and the run started on just them."""
    eval_run = config.stash.get(RUN_KEY, None)
    cases = [item for item in items if isinstance(item, CaseItem)]
    if eval_run is None or not cases or config.option.collectonly:
        return
    chosen = {(item.suite, item.case.id) for item in cases}
    selected = units(eval_run.inputs, chosen)
    if eval_run.run is None:
        eval_run.run = connect(eval_run.inputs)
    ordered = run_order(selected, eval_run.run.settings.seed, lambda u: runs_in_full(eval_run.run, u))
    position = {(u.suite, u.case.id): n for n, u in reversed(list(enumerate(ordered)))}
    others = [item for item in items if not isinstance(item, CaseItem)]
    items[:] = sorted(cases, key=lambda item: position[(item.suite, item.case.id)]) + others
    eval_run.start(selected)


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
