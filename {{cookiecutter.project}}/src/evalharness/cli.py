"""`evalharness COMMAND`: the one command line of the harness (the Makefile's targets and the workflows call it).

    run            the eval suites into a results dir (resumes an interrupted run); extra args go to pytest
    gate           compare a results dir with a baseline: verdict, reports, exit code
    report         re-render the reports of a results dir (the same verdict as gate)
    merge          join shard results dirs into one
    select         evaluate bot.yaml and its candidates, write the leaderboard
    leaderboard    the leaderboard of results dirs made elsewhere
    switch         rewrite bot.yaml as the recommended (or a named) candidate
    promptfoo      the datasets through promptfoo into the results dir (+ promptfoo-view, redteam)
    ci STEP        what the GitHub workflows run (see `evalharness ci --help`)

Options default to the EVAL_* variables (docs/reference.md: "Environment"). Exit codes: 0 ok / pass, 1 quality fail
(gate), 2 bad input or config, 3 infrastructure error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from evalharness.exits import EXIT_BAD_INPUT, EXIT_INFRA, EXIT_PASS
from evalharness.options import DEFAULT_RESULTS, env

GATE_MODES = ("pr", "release", "nightly")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")
    from yamlcheck import FileError
    from yamlcheck import report as report_file_error

    # `run` hands everything after it to pytest, as is (`run -k refund`).
    passthrough = argv[1:] if argv[:1] == ["run"] and argv[1:2] not in (["-h"], ["--help"]) else []
    args = _parser().parse_args(argv[:1] if passthrough else argv)
    if passthrough:
        args.pytest_args = passthrough
    try:
        return args.command(args)
    except FileError as exc:
        return report_file_error(exc)
    except ValueError as exc:  # bad arguments, e.g. EVAL_SHARD=5/2
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="evalharness", description=__doc__, formatter_class=raw)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the eval suites into a results dir (resumes an interrupted run)")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments, e.g. -k refund")
    run.set_defaults(command=_run)

    for name, command, about in (
        ("gate", _gate, "compare a results dir with a baseline and write the verdict"),
        ("report", _report, "re-render the reports of a results dir (same verdict as gate)"),
    ):
        sub = commands.add_parser(name, help=about)
        sub.add_argument("--results", type=Path, default=None, help="default: $EVAL_RESULTS or results/latest")
        sub.add_argument("--baseline", type=Path, default=None, help="default: $EVAL_BASELINE (none: thresholds only)")
        sub.add_argument("--mode", choices=GATE_MODES, default=None, help="default: $EVAL_GATE_MODE or pr")
        sub.add_argument("--accept-worse", action="store_true", help="a maintainer accepts WORSE? (PR mode): exit 0")
        sub.set_defaults(command=command)

    promptfoo = commands.add_parser("promptfoo", help="run the datasets through promptfoo into the results dir")
    promptfoo.add_argument("--results", type=Path, default=None)
    promptfoo.set_defaults(command=_promptfoo)

    view = commands.add_parser("promptfoo-view", help="browse the promptfoo results of a results dir (127.0.0.1)")
    view.add_argument("--results", type=Path, default=None)
    view.add_argument("--port", type=int, default=15500)
    view.set_defaults(command=_promptfoo_view)

    redteam = commands.add_parser("redteam", help="promptfoo red team against the bot (needs a model key)")
    redteam.add_argument("--results", type=Path, default=None)
    redteam.set_defaults(command=_redteam)

    select = commands.add_parser("select", help="evaluate bot.yaml and its candidates, write the leaderboard")
    select.add_argument("--out", type=Path, default=Path("results/select"))
    select.add_argument(
        "--only", default=None, help="comma-separated candidate names (default: $EVAL_CANDIDATES or all)"
    )
    select.set_defaults(command=_select)

    board = commands.add_parser("leaderboard", help="the leaderboard of results dirs made elsewhere (CI)")
    board.add_argument("--runs", type=Path, required=True, help="one results dir per contestant: RUNS/<name>")
    board.add_argument("--out", type=Path, default=Path("results/select"))
    board.set_defaults(command=_leaderboard)

    switch = commands.add_parser("switch", help="rewrite bot.yaml as the recommended (or a named) candidate")
    switch.add_argument("--leaderboard", type=Path, default=Path("results/select/leaderboard.json"))
    switch.add_argument("--candidate", default=None, help="this one instead of the recommendation")
    switch.set_defaults(command=_switch)

    merge = commands.add_parser("merge", help="join shard results dirs into one")
    merge.add_argument("output", type=Path)
    merge.add_argument("shards", type=Path, nargs="+")
    merge.set_defaults(command=_merge)

    # Listed for --help only: the `evalharness` command routes `ci` to evalharness.ci.cli before this parser.
    commands.add_parser("ci", help="what the GitHub workflows run: evalharness ci --help")
    return parser


def _run(args: argparse.Namespace) -> int:
    import pytest

    from evalharness.options import RunOptions
    from evalharness.pytest_plugin import RUN_KEY, EvalRun
    from evalharness.report.terminal import run_table
    from evalharness.results import ResultsDir
    from evalharness.run import connect, prepare
    from yamlcheck import FileError

    eval_run = EvalRun(prepare(RunOptions.from_env()))  # bad datasets or config: exit 2, nothing written
    try:
        eval_run.run = connect(eval_run.inputs)
    except FileError:
        raise
    except Exception as exc:  # the target could not start: a missing key, an unreachable dependency
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INFRA

    class _Handover:
        @staticmethod
        def pytest_configure(config: pytest.Config) -> None:
            config.stash[RUN_KEY] = eval_run

        @staticmethod
        @pytest.hookimpl(tryfirst=True)
        def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
            # A passing suite prints nothing: the progress line and the table below say what happened.
            return ("passed", "", "PASSED") if report.passed and report.when == "call" else None

    # Only the harness's plugin: the ones installed packages register (deepeval's, rerunfailures' socket
    # server, xdist, ...) cost start-up time and do nothing for an eval run; nor do pytest's per-test log
    # capture (cases run in the run's threads) and its collection of unraisable and thread exceptions.
    autoload = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        code = pytest.main(
            [
                # -s: the run's progress goes to the terminal while cases run (not into a capture)
                *("evals", "-qq", "-s", "--no-header", "--tb=no", "-rfE", "-p", "no:cacheprovider"),
                *("-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:logging"),
                *(
                    "-W",
                    "ignore::pytest.PytestAssertRewriteWarning",
                    "-W",
                    "ignore::pytest.PytestConfigWarning",
                ),  # the harness is imported before pytest
                *args.pytest_args,
            ],
            plugins=[_Handover()],
        )
    finally:
        if autoload is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = autoload
    if code in (pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        print("error: no eval case was selected or pytest could not run (see above)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if code == pytest.ExitCode.INTERRUPTED:
        return EXIT_INFRA
    outcome, summary = eval_run.outcome, eval_run.summary
    if outcome is None:
        return EXIT_BAD_INPUT
    options = eval_run.inputs.options
    calls = summary.get("model_calls", {})
    print(
        f"eval: {summary.get('cases')} cases ({outcome.ran} run now, {outcome.skipped_done} already done) -> "
        f"{options.results}; model calls: {calls.get('live', 0)} live, {calls.get('cached', 0)} cached; "
        f"answered by {', '.join(summary.get('providers', [])) or 'nobody'}"
    )
    outputs, rows = ResultsDir(options.results).read()
    if rows:
        print(run_table(outputs, rows, options.results))
    if outcome.stopped:
        print(f"eval: {_stopped_line(outcome.stopped)}")
    if outcome.stalled_s is not None:
        print(
            f"error: the model or judge server stopped answering (no call came back for {outcome.stalled_s:.0f} s, "
            "stall_timeout_s in eval.yaml): the run gave up; not a quality verdict. Re-run to resume.",
            file=sys.stderr,
        )
        return EXIT_INFRA
    if outcome.errors or outcome.aborted:
        print(
            f"error: {outcome.errors} case(s) hit infrastructure errors"
            + (" and the run stopped early" if outcome.aborted else "")
            + " (model or judge unreachable?): not a quality verdict. Re-run to resume.",
            file=sys.stderr,
        )
        return EXIT_INFRA
    return EXIT_PASS


def _stopped_line(stopped: dict) -> str:
    ran, planned = stopped.get("cases_run"), stopped.get("cases_planned")
    if stopped.get("kind") == "cost_cap":
        return (
            f"stopped at the cost cap ${stopped.get('limit_usd')} (spent ${stopped.get('spent_usd'):.4f}) after "
            f"{ran} of {planned} cases: the gate will say INCONCLUSIVE"
        )
    return (
        f"stopped early at look {stopped.get('look')}: {stopped.get('decision')} is certain after {ran} of {planned}"
        f" cases; about {stopped.get('calls_saved')} model calls and ${stopped.get('usd_saved'):.4f} saved"
    )


def _gate(args: argparse.Namespace) -> int:
    verdict = _verdict(args)
    from evalharness.report import markdown
    from evalharness.report.terminal import summary

    print(summary(verdict, _results(args)))  # the whole story is in report.md / report.html beside it
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as handle:
            handle.write(markdown(verdict) + "\n")
    return verdict["exit_code"]


def _report(args: argparse.Namespace) -> int:
    if args.results is None and not env("EVAL_RESULTS") and not (DEFAULT_RESULTS / "summary.json").is_file():
        from evalharness.results import newest

        args.results = newest()
        if args.results is None:
            print(
                "error: no results dir yet: run `make eval` first (or name one: make report RESULTS=dir)",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        print(f"reporting on {args.results}, the newest results dir (RESULTS=dir for another)", file=sys.stderr)
    verdict = _verdict(args)
    print(f"reports written to {_results(args)} (verdict {verdict['verdict']})")
    return EXIT_PASS


def _verdict(args: argparse.Namespace) -> dict:
    from evalharness.gate import evaluate
    from evalharness.report import write_reports
    from evalharness.settings import DEFAULT_EVAL_CONFIG, load_settings

    settings, _ = load_settings(DEFAULT_EVAL_CONFIG)
    baseline = args.baseline or (Path(env("EVAL_BASELINE")) if env("EVAL_BASELINE") else None)
    mode = args.mode or env("EVAL_GATE_MODE") or "pr"
    if mode not in GATE_MODES:
        raise ValueError(f"EVAL_GATE_MODE={mode!r}: expected one of {', '.join(GATE_MODES)}")
    accept = args.accept_worse or env("EVAL_ACCEPT_WORSE").lower() == "true"
    verdict = evaluate(settings, _results(args), baseline, mode, accept_worse=accept)
    write_reports(_results(args), verdict)
    return verdict


def _results(args: argparse.Namespace) -> Path:
    return args.results or Path(env("EVAL_RESULTS") or DEFAULT_RESULTS)


def _promptfoo(args: argparse.Namespace) -> int:
    from evalharness.promptfoo import cli
    from evalharness.settings import DEFAULT_EVAL_CONFIG, load_settings

    settings, _ = load_settings(DEFAULT_EVAL_CONFIG)
    summary = cli.run(settings, _results(args))
    return _print_promptfoo("promptfoo", summary, _results(args))


def _print_promptfoo(label: str, summary: dict, results: Path) -> int:
    if summary.get("tests") is not None:
        rate = "n/a" if summary["pass_rate"] is None else f"{summary['pass_rate']:.1%}"
        print(
            f"{label}: {summary['successes']} passed, {summary['failures']} failed, {summary['errors']} errored, "
            f"{summary.get('not_evaluated', 0)} not evaluated of {summary['tests']} "
            f"(pass rate {rate}, minimum {summary['min_pass_rate']:.0%})",
            file=sys.stderr,
        )
    for failure in summary.get("failed", [])[:10]:
        print(f"  {failure['kind']}: {failure['case']}: {failure['reason']}", file=sys.stderr)
    if summary.get("judge"):
        print(f"{label}: llm-rubric {summary['judge']}", file=sys.stderr)
    reason = f": {summary['reason']}" if summary.get("reason") else ""
    print(f"{label}: {summary['status']}{reason} (exit {summary['exit_code']}); results in {results}", file=sys.stderr)
    return summary["exit_code"]


def _promptfoo_view(args: argparse.Namespace) -> int:
    from evalharness.promptfoo import cli
    from evalharness.settings import DEFAULT_EVAL_CONFIG, load_settings

    settings, _ = load_settings(DEFAULT_EVAL_CONFIG)
    try:
        return cli.view(settings, _results(args), args.port)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_PASS


def _redteam(args: argparse.Namespace) -> int:
    from evalharness.promptfoo import cli
    from evalharness.settings import DEFAULT_EVAL_CONFIG, load_settings

    settings, _ = load_settings(DEFAULT_EVAL_CONFIG)
    summary = cli.redteam(settings, _results(args) / "redteam")
    return _print_promptfoo("redteam", summary, _results(args) / "redteam")


def _select(args: argparse.Namespace) -> int:
    from evalharness.selection.commands import select

    only = env("EVAL_CANDIDATES") if args.only is None else args.only
    return select(args.out, [n.strip() for n in only.split(",") if n.strip()])


def _leaderboard(args: argparse.Namespace) -> int:
    from evalharness.selection.commands import leaderboard

    return leaderboard(args.runs, args.out)


def _switch(args: argparse.Namespace) -> int:
    from evalharness.selection.commands import switch

    return switch(args.leaderboard, args.candidate)


def _merge(args: argparse.Namespace) -> int:
    from evalharness.merge import merge

    summary = merge(args.output, args.shards)
    print(json.dumps({"merged": str(args.output), "cases": summary["cases"], "units": summary["units"]}))
    return EXIT_PASS
