"""Each eval run as a LangSmith experiment, when LangSmith is on (see `observability.enabled()`).

The suites' cases are synced to one LangSmith dataset (example ids are derived from suite and case id, so a
re-sync never duplicates); a run is an experiment over it; each evaluated unit is a root run linked to its
example, with the target's own trace nested under it and every metric score attached as feedback. The
experiment is remembered in the results dir, so a resumed run continues it.

LangSmith can never change a result: every call is guarded, and the first failure turns tracking off for the
rest of the run with one warning line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import observability
from evalharness.datasets import Case, Dataset
from evalharness.options import RunOptions
from evalharness.results import ResultsDir, write_json

EXPERIMENT_FILE = "langsmith.json"
_EXAMPLE_IDS = uuid.UUID("6f1d2c52-5d0e-4a44-9b8e-3f0b8f7c2a10")  # namespace of the derived example ids


def example_id(dataset: str, suite: str, case_id: str) -> str:
    return str(uuid.uuid5(_EXAMPLE_IDS, f"{dataset}/{suite}/{case_id}"))


def example_of(suite: str, case: Case) -> dict[str, Any]:
    """A case as a LangSmith example: its input, its expectations as reference outputs, and a content hash."""
    outputs = {**case.expect.model_dump(), "reference": case.reference}
    body = {"inputs": {"question": case.question, "history": case.history}, "outputs": outputs}
    sha = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {**body, "metadata": {"suite": suite, "case": case.id, "tags": case.tags, "content_sha": sha}}


class CaseTrace:
    """A unit's root run; `end` records its output and scores (nothing when tracking is off)."""

    def end(self, output: dict[str, Any] | None, rows: list[dict[str, Any]], error: str | None = None) -> None:
        pass


class Tracking:
    """Tracking off: the run goes on exactly as it would without LangSmith."""

    url: str | None = None

    @contextmanager
    def case(self, suite: str, case: Case, repeat: int) -> Iterator[CaseTrace]:
        yield CaseTrace()

    def close(self) -> None:
        pass


@dataclass
class _Live(CaseTrace):
    experiment: Experiment
    run: Any

    def end(self, output: dict[str, Any] | None, rows: list[dict[str, Any]], error: str | None = None) -> None:
        if output is not None:
            self.run.end(outputs={"answer": output.get("answer"), "sources": output.get("sources")}, error=error)
        else:
            self.run.end(error=error)
        self.experiment.score(self.run.id, rows)


class Experiment(Tracking):
    def __init__(self, client: Any, project: Any, examples: dict[tuple[str, str], str]):
        self.client, self.project, self.examples = client, project, examples
        self.name = project.name
        # The experiment view lives under its dataset: <web>/o/<tenant>/datasets/<id>/compare?selectedSessions=<id>
        organization = project.url.split("/projects/")[0]
        self.url = f"{organization}/datasets/{project.reference_dataset_id}/compare?selectedSessions={project.id}"
        self._failed = threading.Event()

    @classmethod
    def start(
        cls, results: ResultsDir, dataset: str, datasets: dict[str, Dataset], options: RunOptions, system: dict
    ) -> Tracking:
        """Sync the dataset and open (or, on resume, reopen) the experiment; tracking off if LangSmith is."""
        client = observability.client()
        if client is None:
            return Tracking()
        try:
            return cls._open(client, results, dataset, datasets, options, system)
        except Exception as exc:  # unreachable, refusing, or answering nonsense: evaluate without it
            observability.give_up(f"{type(exc).__name__}: {exc}")
            return Tracking()

    @classmethod
    def _open(
        cls, client: Any, results: ResultsDir, dataset: str, datasets: dict, options: RunOptions, system: dict
    ) -> Experiment:
        dataset_id, examples = sync_dataset(client, dataset, datasets)
        remembered = _remembered(results)
        if remembered:  # a resumed run continues its experiment
            project = client.read_project(project_id=remembered["id"])
        else:
            project = _shared_or_new(client, results, options, system, dataset, dataset_id)
            write_json(results.path / EXPERIMENT_FILE, {"id": str(project.id), "name": project.name})
        return cls(client, project, examples)

    @contextmanager
    def case(self, suite: str, case: Case, repeat: int) -> Iterator[CaseTrace]:
        if self._failed.is_set():
            yield CaseTrace()
            return
        import langsmith

        opened = ExitStack()
        try:
            opened.enter_context(langsmith.tracing_context(enabled=True, client=self.client))
            run = opened.enter_context(
                langsmith.trace(
                    f"eval {suite}/{case.id}",
                    "chain",
                    inputs={"question": case.question, "history": case.history},
                    project_name=self.name,
                    reference_example_id=self.examples.get((suite, case.id)),
                    metadata={
                        "eval_run": self.name,
                        "eval_run_id": str(self.project.id),
                        "suite": suite,
                        "case": case.id,
                        "repeat": repeat,
                    },
                    tags=["eval", f"suite:{suite}"],
                    client=self.client,
                )
            )
        except Exception as exc:
            opened.close()
            self._fail(exc)
            yield CaseTrace()
            return
        with opened:
            yield _Live(self, run)

    def score(self, run_id: Any, rows: list[dict[str, Any]]) -> None:
        """Each metric that produced a score becomes feedback on the unit's run (batched in the background)."""
        for row in rows:
            if row["status"] != "ok" or row["score"] is None:
                continue
            try:
                self.client.create_feedback(
                    run_id,
                    key=row["metric"],
                    score=row["score"],
                    comment=(row.get("reason") or "")[:2000] or None,
                    trace_id=run_id,
                    session_id=self.project.id,
                    feedback_source_type="model",
                    stop_after_attempt=1,  # the SDK would retry 10 times with backoff, stalling a worker for minutes
                )
            except Exception as exc:
                self._fail(exc)
                return

    def close(self) -> None:
        # Mark the experiment finished only when its runs went through: a hung endpoint costs one flush, no more.
        if observability.flush(observability.BATCH_FLUSH_BUDGET_S) and not self._failed.is_set():
            try:
                self.client.update_project(self.project.id, end_time=dt.datetime.now(dt.UTC))
            except Exception as exc:
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self._failed.set()
        observability.give_up(f"{type(exc).__name__}: {exc}")


def sync_dataset(client: Any, name: str, datasets: dict[str, Dataset]) -> tuple[str, dict[tuple[str, str], str]]:
    """Create the dataset once, add new cases, update changed ones; returns its id and (suite, case) -> example id.

    Cases deleted from the YAML stay in LangSmith, where earlier experiments still refer to them.
    """
    from langsmith.utils import LangSmithConflictError, LangSmithNotFoundError

    try:
        dataset = client.read_dataset(dataset_name=name)
    except LangSmithNotFoundError:
        try:
            dataset = client.create_dataset(name, description="Synced from evals/datasets by the eval harness")
        except LangSmithConflictError:  # a parallel shard created it a moment ago
            dataset = client.read_dataset(dataset_name=name)
    existing = {str(e.id): e for e in client.list_examples(dataset_id=dataset.id)}
    ids, new, changed = {}, [], []
    for suite, data in datasets.items():
        for case in data.cases:
            ex_id = example_id(name, suite, case.id)
            ids[(suite, case.id)] = ex_id
            example = {"id": ex_id, **example_of(suite, case)}
            if ex_id not in existing:
                new.append(example)
            elif (existing[ex_id].metadata or {}).get("content_sha") != example["metadata"]["content_sha"]:
                changed.append(example)
    if new:
        with contextlib.suppress(LangSmithConflictError):  # a parallel shard added them (same ids): nothing lost
            client.create_examples(dataset_id=dataset.id, examples=new)
    if changed:
        client.update_examples(dataset_id=dataset.id, updates=changed)
    return str(dataset.id), ids


def _shared_or_new(
    client: Any, results: ResultsDir, options: RunOptions, system: dict, dataset: str, dataset_id: str
) -> Any:
    """A new experiment; with EVAL_RUN_ID, the one its sibling shards share (whichever shard comes first makes it)."""
    from langsmith.utils import LangSmithConflictError, LangSmithNotFoundError

    identity = results.identity()
    run_id = options.run_id
    name = f"{dataset}:{identity['versions'].get('config', 'unknown')[:8]}:{run_id or uuid.uuid4().hex[:8]}"
    if run_id:
        try:
            return client.read_project(project_name=name)
        except LangSmithNotFoundError:
            pass
    metadata = {
        "versions": identity["versions"],
        "mode": options.mode,
        "eval_run_id": run_id,
        "system": system,
    }
    try:
        return client.create_project(name, reference_dataset_id=dataset_id, metadata=metadata)
    except LangSmithConflictError:  # a sibling shard made it a moment ago
        return client.read_project(project_name=name)


def _remembered(results: ResultsDir) -> dict[str, Any] | None:
    path = results.path / EXPERIMENT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
