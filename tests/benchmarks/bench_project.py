"""The project the benchmark runs in: the default bake, installed, with the workload written into it.

Its eval config holds two suites over one generated dataset: `throughput` (one deterministic metric, what the
engines race on) and `gate` (five metrics, for timing the gate). The bot keeps its real retrieval and prompt;
only its model is the loopback server.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.benchmarks.workload import Case

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
MODEL = "bench-model"
GATE_METRICS = ["facts", "forbidden", "refusal", "source_recall", "answer_length"]


def bake_and_install(workdir: Path, env: dict[str, str]) -> Path:
    """Bake the default project into workdir and install it (uv, and promptfoo's CLI with npm ci).

    node_modules survives a re-bake when the lock file did not change: npm ci costs a minute and 1.7 GB.
    """
    project = workdir / "my-chatbot"
    kept = workdir / "node_modules.kept"
    lock = (project / "package-lock.json").read_bytes() if (project / "package-lock.json").is_file() else None
    if (project / "node_modules").is_dir() and not kept.exists():
        (project / "node_modules").rename(kept)
    shutil.rmtree(project, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(workdir), str(TEMPLATE_DIR)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    if kept.is_dir():
        if lock == (project / "package-lock.json").read_bytes():
            kept.rename(project / "node_modules")
            # make compares times: a kept install is as new as the lock file it came from
            (project / "node_modules" / ".package-lock.json").touch()
        else:
            shutil.rmtree(kept)
    installed = subprocess.run(
        ["make", "-C", str(project), "install", "promptfoo-install"], env=env, capture_output=True, text=True
    )
    if installed.returncode:
        output = installed.stdout[-3000:] + installed.stderr[-3000:]
        raise RuntimeError(f"installing the bench project failed:\n{output}")
    _write_bytecode(project, env)
    return project


def _write_bytecode(project: Path, env: dict[str, str]) -> None:
    """Import what every engine runs once, so no timed run pays for compiling Python (as on any machine
    where the bytecode cache is on; the contestants' environment turns it on)."""
    modules = "deepeval, deepeval.evaluate, openai, pytest, evalharness.cli, evalharness.metrics.build, my_chatbot.bot"
    subprocess.run([str(project / ".venv/bin/python"), "-c", f"import {modules}"], cwd=project, env=env, check=True)


def write_workload(project: Path, cases: list[Case], concurrency: int) -> None:
    """The generated dataset, the two suites and the bench model, replacing the sample ones."""
    evals = project / "evals"
    source = sorted(p.name for p in (project / "knowledge").glob("*.md"))[0]
    dataset = {
        "description": f"{len(cases)} generated widget questions (make bench)",
        "cases": [
            {
                "id": case.id,
                "input": case.question,
                "expect": {"facts": [case.fact], "forbidden": ["password"], "refuse": False, "sources": [source]},
            }
            for case in cases
        ],
    }
    (evals / "datasets" / "widgets.yaml").write_text(yaml.safe_dump(dataset, sort_keys=False), encoding="utf-8")
    config = {
        "target": "target:make_target",
        "knowledge_dir": "knowledge",
        "concurrency": concurrency,
        "requests_per_minute": 1_000_000,  # the limit under test is latency and concurrency, not a rate cap
        "judge": {"enabled": False, "model": MODEL},
        "refusal_markers": ["i don't know"],
        "suites": {
            "throughput": {"dataset": "datasets/widgets.yaml", "metrics": ["facts"]},
            "gate": {"dataset": "datasets/widgets.yaml", "metrics": GATE_METRICS},
        },
    }
    # the suites are the tests: pytest collects them from eval.yaml
    (evals / "eval.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    use_model(project, MODEL)


def use_model(project: Path, model: str) -> None:
    bot = project / "bot.yaml"
    text, count = re.subn(r"(?m)^model: .*$", f"model: {json.dumps(model)}", bot.read_text(encoding="utf-8"))
    assert count == 1, "bot.yaml has no top-level model line"
    bot.write_text(text, encoding="utf-8")
