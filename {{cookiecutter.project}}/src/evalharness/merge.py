"""Join shard results dirs into one: rows concatenated, summary recomputed from the rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalharness.results import (
    OUTPUTS_FILE,
    RESULTS_FILE,
    RUN_FILE,
    SCHEMA_VERSION,
    SUMMARY_FILE,
    ResultsDir,
    integrity,
    verify,
    write_json,
)
from evalharness.summary import aggregate
from yamlcheck import FileError


def merge(output: Path, shards: list[Path]) -> dict[str, Any]:
    identities = []
    for shard in shards:
        if not (shard / RUN_FILE).is_file():
            raise FileError(shard, None, f"not a results dir (no {RUN_FILE})")
        identities.append({k: v for k, v in ResultsDir(shard).identity().items() if k != "shard"})
        summary_file = shard / SUMMARY_FILE
        verify(shard, json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else None)
    if any(identity != identities[0] for identity in identities):
        raise FileError(shards[0], None, "the shards come from different runs (content hashes differ); cannot merge")
    if output.exists() and any(output.iterdir()):
        raise FileError(output, None, "the merge output dir must be new or empty")
    output.mkdir(parents=True, exist_ok=True)
    write_json(output / RUN_FILE, {"schema": SCHEMA_VERSION, "identity": {**identities[0], "shard": "merged"}})
    merged = ResultsDir(output)
    for shard in shards:
        source = ResultsDir(shard)
        completed = source.outputs()
        for row in source.results():
            merged.append(RESULTS_FILE, row)
        for row in completed.values():
            merged.append(OUTPUTS_FILE, row)
    summaries = [
        json.loads((s / SUMMARY_FILE).read_text(encoding="utf-8")) for s in shards if (s / SUMMARY_FILE).is_file()
    ]
    summary = aggregate(merged)
    first = summaries[0] if summaries else {}
    summary.update(
        schema=SCHEMA_VERSION,
        git_sha=first.get("git_sha"),
        hashes=merged.identity(),
        provider=first.get("provider"),
        model=first.get("model"),
        judge=first.get("judge"),
        system=first.get("system"),
        # Shards share one experiment; a shard that ran untraced (LangSmith hiccup) must not hide its link.
        langsmith_url=next((x["langsmith_url"] for x in summaries if x.get("langsmith_url")), None),
        mode=first.get("mode"),
        shard="merged",
        shards=len(shards),
        model_calls={
            key: sum(s.get("model_calls", {}).get(key, 0) for s in summaries) for key in ("live", "cached", "errors")
        },
        wall_time_s=max((s.get("wall_time_s", 0) for s in summaries), default=0),
        integrity=integrity(output),
    )
    write_json(output / SUMMARY_FILE, summary)
    return summary
