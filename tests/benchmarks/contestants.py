"""How each engine is run on the workload: our harness, deepeval's evaluate() and promptfoo eval.

Each returns the measured child process and the number of cases it passed; the orchestrator adds model calls.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.benchmarks.measure import Measured, run_measured
from tests.benchmarks.workload import Case

HERE = Path(__file__).resolve().parent


@dataclass
class Run:
    name: str
    measured: Measured
    passes: int | None
    note: str = ""
    calls: int = 0  # model calls the server counted during the run (filled in by the orchestrator)


def harness(name: str, project: Path, env: dict[str, str], results: Path, cache: Path, suite: str) -> Run:
    """`make eval` without make: the harness's own command (what `make eval SELECT=suite` runs)."""
    command = [str(project / ".venv/bin/evalharness"), "run"]
    variables = {"EVAL_RESULTS": str(results), "EVAL_CACHE": str(cache), "EVAL_SELECT": suite}
    measured = run_measured(command, project, {**env, **variables})
    _check(name, measured, ok=(0,))
    summary = json.loads((results / "summary.json").read_text(encoding="utf-8"))
    facts = summary["metrics"]["facts"]
    return Run(name, measured, round(facts["pass_rate"] * facts["n_cases"]))


def deepeval(project: Path, env: dict[str, str], cases: list[Case], url: str, model: str, concurrency: int,
             workdir: Path) -> Run:  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)  # deepeval writes its .deepeval/ state where it runs
    cases_file, out = workdir / "cases.json", workdir / "result.json"
    cases_file.write_text(json.dumps([{"question": c.question, "fact": c.fact} for c in cases]), encoding="utf-8")
    command = [
        str(project / ".venv/bin/python"), str(HERE / "deepeval_contestant.py"), "--cases", str(cases_file),
        "--base-url", url, "--model", model, "--concurrency", str(concurrency), "--out", str(out),
    ]  # fmt: skip
    measured = run_measured(command, workdir, env)
    _check("deepeval", measured, ok=(0,))
    result = json.loads(out.read_text(encoding="utf-8"))
    note = f"answering {result['answer_s']:.2f} s + evaluate() {result['evaluate_s']:.2f} s"
    return Run(f"deepeval evaluate(), max_concurrent={concurrency}", measured, result["passes"], note)


def promptfoo(project: Path, env: dict[str, str], cases: list[Case], url: str, model: str, concurrency: int,
              workdir: Path) -> Run:  # fmt: skip
    """promptfoo's own OpenAI provider against the same server, one `icontains` assertion per case."""
    workdir.mkdir(parents=True, exist_ok=True)
    config, out = workdir / "promptfooconfig.yaml", workdir / "output.json"
    config.write_text(
        yaml.safe_dump(
            {
                "description": "make bench",
                "prompts": ["{{question}}"],
                "providers": [{"id": f"openai:chat:{model}", "config": {"apiBaseUrl": url, "apiKey": "sk-bench"}}],
                "tests": [
                    {"vars": {"question": c.question}, "assert": [{"type": "icontains", "value": c.fact}]}
                    for c in cases
                ],
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    command = [
        str(project / "node_modules/.bin/promptfoo"), "eval", "-c", str(config), "-o", str(out),
        "-j", str(concurrency), "--no-cache", "--no-write", "--no-table", "--no-progress-bar",
    ]  # fmt: skip
    measured = run_measured(command, project, promptfoo_environment(project, env))
    _check("promptfoo", measured, ok=(0, 100))  # 100: some assertions failed, as the workload intends
    stats = json.loads(out.read_text(encoding="utf-8"))["results"]["stats"]
    if stats.get("errors"):
        raise RuntimeError(f"promptfoo: {stats['errors']} test(s) errored:\n{measured.output[-3000:]}")
    return Run(f"promptfoo eval -j {concurrency}", measured, stats["successes"])


def promptfoo_environment(project: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment the project's own `make promptfoo` gives the CLI: pinned CLI and Node, no telemetry."""
    code = (
        "import json; from pathlib import Path; from evalharness.settings import load_settings; "
        "from evalharness.promptfoo.cli import environment; "
        "print(json.dumps(environment(load_settings()[0], Path('.'))))"
    )
    python = str(project / ".venv/bin/python")
    proc = subprocess.run([python, "-c", code], cwd=project, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _check(name: str, measured: Measured, ok: tuple[int, ...]) -> None:
    if measured.returncode not in ok:
        raise RuntimeError(f"{name} exited {measured.returncode}:\n{measured.output[-3000:]}")
