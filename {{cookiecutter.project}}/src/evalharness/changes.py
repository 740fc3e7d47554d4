"""What changed between two runs, in words: the inputs (the files that define the version under test, content
hashes of prompt, knowledge and datasets), how many cases got worse or better, and for each regressed case
what it lost (a fact, a source, its citations), not only its score."""

from __future__ import annotations

import difflib
from collections import Counter
from pathlib import Path
from statistics import fmean
from typing import Any

import yaml

from evalharness.sides import Row, Side
from evalharness.stats.paired import CHANGE_TOLERANCE

SNAPSHOT_DIR = "snapshot"  # inside a results dir: copies of the files that define the version under test
DIFF_LINES = 60


def inputs(base: Side, head: Side) -> dict[str, Any]:
    """The files and hashes that differ between the two runs."""
    files = []
    for name in sorted(set(_snapshot(base.path)) | set(_snapshot(head.path))):
        before, after = _snapshot(base.path).get(name), _snapshot(head.path).get(name)
        if before == after:
            continue
        entry: dict[str, Any] = {
            "name": name,
            "status": "added" if before is None else "removed" if after is None else "changed",
        }
        if before is not None and after is not None:
            entry["keys"] = _key_changes(before, after) if name.endswith((".yaml", ".yml")) else []
            diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "base", "head", lineterm="", n=1))
            entry["diff"] = diff[:DIFF_LINES] + (
                [f"… {len(diff) - DIFF_LINES} more line(s)"] if len(diff) > DIFF_LINES else []
            )
        files.append(entry)
    hashes = {}
    base_hashes, head_hashes = base.summary.get("hashes") or {}, head.summary.get("hashes") or {}
    for group in ("versions", "datasets"):
        for key in sorted(set(base_hashes.get(group) or {}) | set(head_hashes.get(group) or {})):
            before, after = (base_hashes.get(group) or {}).get(key), (head_hashes.get(group) or {}).get(key)
            hashes[f"{'dataset ' if group == 'datasets' else ''}{key}"] = before != after
    if base_hashes or head_hashes:
        hashes["eval config"] = base_hashes.get("eval_config") != head_hashes.get("eval_config")
    return {"files": files, "hashes": hashes}


def _snapshot(results: Path) -> dict[str, str]:
    folder = results / SNAPSHOT_DIR
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _key_changes(before: str, after: str) -> list[dict[str, Any]]:
    try:
        old, new = _flatten(yaml.safe_load(before)), _flatten(yaml.safe_load(after))
    except yaml.YAMLError:
        return []
    return [
        {"key": key, "base": old.get(key), "head": new.get(key)}
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def case_changes(metrics: list[str], base: Side, head: Side) -> dict[str, dict[str, int]]:
    """Per metric: how many paired cases got worse, better, or stayed the same."""
    counts = {}
    for name in metrics:
        tally = Counter()
        for case in head.scores.get(name, {}).keys() & base.scores.get(name, {}).keys():
            delta = fmean(head.scores[name][case]) - fmean(base.scores[name][case])
            tally["worse" if delta < -CHANGE_TOLERANCE else "better" if delta > CHANGE_TOLERANCE else "same"] += 1
        counts[name] = {k: tally.get(k, 0) for k in ("worse", "better", "same")}
    return counts


def regressions(metrics: list[str], base: Side, head: Side, shown: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The regressed cases, worst first (each with what it lost in every metric that dropped), and the counts
    of cases that got worse and better overall."""
    by_case: dict[str, list[tuple[float, str]]] = {}
    better = set()
    for name in metrics:
        for case in head.scores.get(name, {}).keys() & base.scores.get(name, {}).keys():
            delta = fmean(head.scores[name][case]) - fmean(base.scores[name][case])
            if delta < -CHANGE_TOLERANCE:
                by_case.setdefault(case, []).append((delta, name))
            elif delta > CHANGE_TOLERANCE:
                better.add(case)
    ordered = sorted(by_case.items(), key=lambda item: (sum(d for d, _ in item[1]), item[0]))
    cases = []
    for case, drops in ordered[:shown]:
        head_row, base_row = head.outputs.get(case, {}), base.outputs.get(case, {})
        drops.sort(key=lambda drop: metrics.index(drop[1]))  # in the order eval.yaml lists the metrics
        cases.append(
            {
                "case": case,
                "metric": min(drops)[1],
                "delta": round(min(drops)[0], 4),
                "base": round(fmean(base.scores[min(drops)[1]][case]), 4),
                "head": round(fmean(head.scores[min(drops)[1]][case]), 4),
                "lost": [
                    {
                        "metric": name,
                        "delta": round(delta, 4),
                        "why": explain(name, base.rows[name][case], head.rows[name][case]),
                    }
                    for delta, name in drops
                ],
                "must_pass": case in head.must_pass,
                "input": head_row.get("input", ""),
                "head_answer": head_row.get("answer", ""),
                "base_answer": base_row.get("answer", ""),
                "head_sources": head_row.get("sources") or [],
                "base_sources": base_row.get("sources") or [],
            }
        )
    return cases, {
        "worse": len(by_case),
        "better": len(better - by_case.keys()),
        "compared": len(_paired_cases(metrics, base, head)),
    }


def _paired_cases(metrics: list[str], base: Side, head: Side) -> set[str]:
    return {c for name in metrics for c in head.scores.get(name, {}).keys() & base.scores.get(name, {}).keys()}


def explain(metric: str, base_rows: list[Row], head_rows: list[Row]) -> str:
    """What the case lost on this metric, from the details its rows record (the first repeat of each side)."""
    before, after = base_rows[0].get("details") or {}, head_rows[0].get("details") or {}
    if metric == "facts" and "missing" in after:
        lost = [f for f in after["missing"] if f not in (before.get("missing") or [])]
        return f"lost the fact{'s' if len(lost) > 1 else ''} {_quoted(lost)}" if lost else "fewer facts present"
    if metric == "source_recall" and "found" in after:
        lost = [s for s in before.get("found") or [] if s not in after["found"]]
        return f"retrieval lost {', '.join(lost)}" if lost else "fewer expected sources retrieved"
    if metric == "refusal" and "refused" in after:
        return "now refuses an in-scope question" if after["refused"] else "now answers an out-of-scope question"
    if metric in ("forbidden", "security") and after.get("present"):
        return f"now says {_quoted(after['present'])}"
    if metric == "citations" and "cited" in after:
        if not after["cited"]:
            return "no longer cites its passages"
        return f"cites passages that were not retrieved: {after.get('invalid')}"
    reason = str(head_rows[0].get("reason") or "").strip()
    base_score, head_score = base_rows[0].get("score"), head_rows[0].get("score")
    scores = (
        f"{base_score:.2f} → {head_score:.2f}"
        if isinstance(base_score, float | int) and isinstance(head_score, float | int)
        else "lower"
    )
    return f"{metric} {scores}" + (f": {reason}" if reason else "")


def _quoted(items: list[str]) -> str:
    return ", ".join(f"'{item}'" for item in items)


# How a regression on each metric reads in the headline, with the number of cases it hit.
_LOSSES = {
    "facts": "facts went missing in {n}",
    "source_recall": "retrieval lost an expected source in {n}",
    "refusal": "{n} changed whether they refuse",
    "citations": "{n} answers lost their citations",
    "forbidden": "{n} answers now say something forbidden",
    "security": "{n} probes now get through",
}


def headline(
    counts: dict[str, int], cases: list[dict[str, Any]], changed: dict[str, Any], by_metric: dict[str, dict[str, int]]
) -> str:
    """The report's first sentence: how many cases moved and how, the worst one, and what changed."""
    worse, better, compared = counts["worse"], counts["better"], counts["compared"]
    if not compared:
        text = "No case was scored by both runs."
    elif not worse and not better:
        text = f"No case changed (of {compared} compared)."
    else:
        text = f"{worse} case{'s' if worse != 1 else ''} got worse, {better} better (of {compared} compared)"
        losses = sorted(((c["worse"], name) for name, c in by_metric.items() if c.get("worse")), reverse=True)
        phrases = [_LOSSES.get(name, name + " dropped in {n}").format(n=n) for n, name in losses[:3]]
        text += (": " + ", ".join(phrases)) if phrases else ""
        if cases:
            worst = cases[0]
            question = str(worst.get("input") or worst["case"])
            question = question if len(question) <= 90 else question[:87] + "…"
            text += f". Worst: “{question}” {' and '.join(item['why'] for item in worst['lost'][:2])}"
        text += "."
    edits = [
        f"{f['name']} {k['key']} {_short(k['base'])} → {_short(k['head'])}"
        for f in changed.get("files", [])
        for k in f.get("keys", [])[:3]
    ]
    edits += [f"{f['name']} {f['status']}" for f in changed.get("files", []) if not f.get("keys")]
    moved = [name for name, differs in (changed.get("hashes") or {}).items() if differs and name != "config"]
    if edits or moved:
        text += " Changed: " + "; ".join(edits[:4] + moved) + "."
    elif changed.get("hashes"):
        text += " Inputs identical (same config, prompt, knowledge and datasets)."
    return text


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "…"
