"""Eval suites as pytest tests: `@pytest.mark.eval("suite")` + a `case` parameter per dataset case.

All selected cases are evaluated concurrently the first time a test needs a result (so a run approaches
N·L/C, not N·L); each test then reports its own case. `pytest evals -k refund` evaluates only what it
selects. Through `python -m evalharness run` (make eval) the exit code follows the gate contract instead of
pytest's: failing cases are data for the gate, not a failed run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evalharness.calls import MODES
from evalharness.datasets import Case
from evalharness.session import EvalSession, RunOptions, parse_shard
from evalharness.settings import DEFAULT_EVAL_CONFIG

SESSION_KEY = pytest.StashKey[EvalSession]()
SELECTED_KEY = pytest.StashKey[set]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalharness")
    group.addoption("--results", default=None, help="results dir (default: $RESULTS or results/latest)")
    group.addoption("--model-mode", choices=MODES, default=None, help="live | replay | refresh")
    group.addoption("--shard", default=None, help="i/n: run a deterministic subset of the cases")
    group.addoption("--repeats", type=int, default=None, help="override every suite's repeats")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "eval(suite): a test evaluating one case of an eval suite")


def suite_cases(suite: str) -> list[Case]:
    """The cases of a suite, for @pytest.mark.parametrize (validated: errors name path:line)."""
    session = EvalSession.prepare(RunOptions(config=DEFAULT_EVAL_CONFIG))
    return session.datasets[suite].cases


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        options = RunOptions.from_env()
        if config.getoption("results"):
            options.results = Path(config.getoption("results"))
        if config.getoption("model_mode"):
            options.mode = config.getoption("model_mode")
        if config.getoption("shard"):
            options.shard = parse_shard(config.getoption("shard"))
        if config.getoption("repeats"):
            options.repeats = config.getoption("repeats")
        session = EvalSession.prepare(options)
        config.stash[SESSION_KEY] = session
    keep, drop, selected = [], [], set()
    shard_units = {(u.suite, u.case.id) for u in session.units()}
    for item in items:
        marker = item.get_closest_marker("eval")
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None or "case" not in callspec.params:
            keep.append(item)
            continue
        key = (marker.args[0], callspec.params["case"].id)
        (keep if key in shard_units else drop).append(item)
        if key in shard_units:
            selected.add(key)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    config.stash[SELECTED_KEY] = selected


@pytest.fixture(scope="session")
def eval_session(request: pytest.FixtureRequest) -> EvalSession:
    """Run every selected unit once (concurrently), then hand out results."""
    session = request.config.stash[SESSION_KEY]
    if session.outcome is None:
        if session.results is None:
            session.connect()
        session.run(session.units(request.config.stash[SELECTED_KEY]))
        session.rows_by_case = _index(session)
    return session


def pytest_sessionfinish(session: pytest.Session) -> None:
    eval_session = session.config.stash.get(SESSION_KEY, None)
    if eval_session is not None and eval_session.outcome is not None:
        eval_session.summary = eval_session.close()


@pytest.fixture
def eval_case(request: pytest.FixtureRequest, eval_session: EvalSession):
    """`eval_case(case)`: fail with the metrics the case missed; skip if it was not evaluated."""
    suite = request.node.get_closest_marker("eval").args[0]

    def check(case: Case) -> None:
        rows = eval_session.rows_by_case.get((suite, case.id))
        if rows is None:  # never silently green: a case that was not run fails
            pytest.fail("not run: the eval stopped early (see the infrastructure errors above)", pytrace=False)
        errors = [r for r in rows if r["status"] == "error"]
        if errors:
            pytest.fail(f"infrastructure error (not a quality verdict): {errors[0]['reason']}", pytrace=False)
        if rows and all(r["status"] == "not_evaluated" for r in rows):
            pytest.skip(f"not evaluated: {rows[0]['reason']}")
        missed = [r for r in rows if r["status"] == "ok" and not r["passed"]]
        if missed:
            # First line: the short summary pytest shows per case; then the details.
            headline = "; ".join(f"{r['metric']} {r['score']:.2f} < {r['threshold']} ({r['reason']})" for r in missed)
            pytest.fail(f"{headline}\n  question: {case.question!r}", pytrace=False)

    return check


def _index(session: EvalSession) -> dict[tuple[str, str], list[dict]]:
    rows: dict[tuple[str, str], list[dict]] = {}
    for row in session.results.results():
        rows.setdefault((row["suite"], row["case"]), []).append(row)
    for key, row in session.results.outputs().items():
        if row["status"] in ("error", "not_evaluated") and (key[0], key[1]) not in rows:
            rows[(key[0], key[1])] = [{**row, "metric": "-"}]
        rows.setdefault((key[0], key[1]), [])  # completed, but no metric applied to it
    return rows
