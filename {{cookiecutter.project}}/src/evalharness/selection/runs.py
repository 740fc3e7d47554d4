"""Evaluating candidates: one `evalharness run` per candidate, a few at once, into one results dir
each. They share the model-call cache (a candidate that asks what another asked is free) and split the
live-call rate limit between them, so selection never runs faster than eval.yaml allows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from evalharness.selection.candidates import (
    CURRENT,
    Candidate,
    check_candidates,
    load_candidates,
    write_candidate_config,
)
from evalharness.settings import EvalSettings, Price
from yamlcheck import FileError

RUNS = "runs"  # <out>/runs/<name>: one results dir per contestant


@dataclass(frozen=True)
class RunStatus:
    name: str
    results: Path
    exit_code: int
    seconds: float
    log: Path
    error: str | None = None  # the run's own last error line, when it failed


def candidates_path(settings: EvalSettings, eval_config: Path) -> Path:
    return eval_config.parent / settings.selection.candidates


def base_config(settings: EvalSettings, eval_config: Path) -> Path:
    return eval_config.parent.parent / settings.selection.config


def prepare_candidate(
    settings: EvalSettings, eval_config: Path, name: str, out_dir: Path, module: ModuleType | None
) -> tuple[Path, dict[str, Price] | None]:
    """Write candidate `name`'s config into out_dir and validate it; return it and its price entry (if any)."""
    path = candidates_path(settings, eval_config)
    candidates, lines = load_candidates(path)
    if name not in candidates:
        raise FileError(path, None, f"no candidate named {name!r}; candidates: {', '.join(candidates)}")
    check = _checker(settings, eval_config, module)
    config = check_candidates(path, {name: candidates[name]}, lines, base_config(settings, eval_config), out_dir, check)
    price = candidates[name].price
    if price is None:
        return config[name], None
    model = (yaml.safe_load(config[name].read_text(encoding="utf-8")) or {}).get("model")
    return config[name], {str(model): price}


def parse_overrides(text: str) -> dict[str, Any]:
    """`retrieval.top_k=1,model=gpt-4o` -> nested overrides; values are YAML scalars (1, true, null, "x")."""
    overrides: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key.strip()):
            raise ValueError(f"EVAL_SET={text!r}: expected key.path=value[,key.path=value]")
        node = overrides
        *parents, leaf = key.strip().split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = yaml.safe_load(value) if value.strip() else ""
    return overrides


def prepare_overrides(
    settings: EvalSettings, eval_config: Path, overrides: dict[str, Any], out_dir: Path, module: ModuleType | None
) -> Path:
    """bot.yaml with these overrides, written into out_dir and validated: a what-if run that edits no file."""
    config = write_candidate_config(
        base_config(settings, eval_config), Candidate(overrides=overrides), out_dir / "bot.yaml"
    )
    check = _checker(settings, eval_config, module)
    if check is not None:
        check(config)
    return config


def validate_all(settings: EvalSettings, eval_config: Path, out_dir: Path, module: ModuleType | None) -> list[str]:
    """Every candidate checked (all problems at once, located in candidates.yaml); their names."""
    path = candidates_path(settings, eval_config)
    candidates, lines = load_candidates(path)
    check_candidates(
        path, candidates, lines, base_config(settings, eval_config), out_dir, _checker(settings, eval_config, module)
    )
    return list(candidates)


def _checker(settings: EvalSettings, eval_config: Path, module: ModuleType | None) -> Callable[[Path], None] | None:
    """The adapter's `check_config(path, root)`, with relative paths resolving against the project root."""
    check = getattr(module, "check_config", None) if module else None
    if check is None:
        return None
    root = project_root(eval_config)
    return lambda config: check(config, root)


def project_root(eval_config: Path) -> Path:
    return eval_config.parent.parent.resolve()


def run_contestants(
    settings: EvalSettings, names: list[str], out: Path, echo=print, extra_env: dict[str, Any] | None = None
) -> list[RunStatus]:
    """Evaluate each contestant (CURRENT is bot.yaml itself) into out/runs/<name>, from scratch: the cache
    makes a repeat cheap, and a results dir of an edited candidate must not be resumed."""
    parallel = min(settings.selection.parallel, len(names))
    rate = settings.requests_per_minute / parallel
    (out / RUNS).mkdir(parents=True, exist_ok=True)

    def one(name: str) -> RunStatus:
        results = out / RUNS / name
        shutil.rmtree(results, ignore_errors=True)
        log = out / RUNS / f"{name}.log"
        env = {**os.environ, **(extra_env or {}), "EVAL_RESULTS": str(results), "EVAL_REQUESTS_PER_MINUTE": f"{rate:g}"}
        env.pop("EVAL_CANDIDATE", None)
        if name != CURRENT:
            env["EVAL_CANDIDATE"] = name
        started = time.perf_counter()
        with open(log, "w", encoding="utf-8") as handle:
            code = subprocess.run(
                [sys.executable, "-m", "evalharness", "run"], env=env, stdout=handle, stderr=subprocess.STDOUT
            ).returncode
        error = _last_error(log) if code else None
        status = RunStatus(name, results, code, round(time.perf_counter() - started, 1), log, error)
        outcome = "done" if code == 0 else f"FAILED (exit {code}): {error} (see {log})"
        echo(f"select: {name}: {outcome} in {status.seconds:g} s")
        return status

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, names))


def _last_error(log: Path) -> str:
    """The run's own explanation (its last `error:` line), so a missing key or a dead server shows at once."""
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:") or re.match(r"^\S+:\d+: ", line)]
    return (errors or lines or ["no output"])[-1][:300]
