"""Model versions: an annotated tag `<prefix>X.Y.Z` on the commit whose release gate passed, with a manifest.

The tag message is `Model version <tag>`, a blank line, then the manifest as JSON (manifest.py; also written to
manifest.json in the results dir and attached to the GitHub Release): the system (provider, model, params), the
content hashes of bot.yaml, the prompt, the knowledge base, the datasets and the eval config, the judge, the verdict,
every gated score with its interval and the absolute thresholds, cost and latency.

Which number goes up with `--bump auto` (the default), comparing with the manifest of the latest `<prefix>` tag:

    major  the provider or the model id changed                           a different model answers
    minor  otherwise: the params, the prompt template or bot.yaml changed  the same model, told differently
    patch  otherwise: the knowledge base, a dataset or the eval config changed, or nothing changed at all
           (a re-release with new evidence)

The first release (no `<prefix>` tag yet) is 1.0.0. `--bump major|minor|patch` overrides the rule. A previous tag
without a readable manifest cannot be compared: pass the bump explicitly then. Tags after the prefix that are not
exactly X.Y.Z are ignored; versions sort numerically (1.10.0 after 1.9.0).

Refused (exit 1) unless verdict.json says PASS in release mode. Results evaluated at another commit than HEAD
(summary.json git_sha) and a tag that already exists, locally or on the remote, are bad input (exit 2). A failed
push is an infrastructure error (exit 3) and leaves no tag behind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evalharness.ci.errors import BadInput, InfraError, Refused
from evalharness.ci.git import GitError, git, head_sha, local_tag_exists, push_tag, remote_tag_exists, tagger_env
from evalharness.ci.manifest import build_manifest, hashes_of, read_json, system_of

BUMPS = ("auto", "major", "minor", "patch")
TITLE = "Model version {tag}"
MANIFEST_FILE = "manifest.json"
ASSETS = {
    "report.md": "text/markdown; charset=utf-8",
    "report.html": "text/html; charset=utf-8",
    MANIFEST_FILE: "application/json",
}
_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


class ReleaseRefused(Refused):
    """The results do not carry a passing release-mode verdict (exit 1)."""


class TagExists(BadInput):
    """The version's tag is already there: versions are never moved or reused (exit 2)."""


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.fullmatch(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def next_version(
    previous: str | None, bump: str, previous_manifest: dict[str, Any] | None, current: dict[str, Any]
) -> tuple[str, str]:
    """(the next version "X.Y.Z", why). `previous` is the latest released version (None: nothing released yet)."""
    if bump not in BUMPS:
        raise BadInput(f"bump must be one of {', '.join(BUMPS)}, got {bump!r}")
    if previous is None:
        return "1.0.0", "first release"
    parsed = parse_version(previous)
    if parsed is None:
        raise BadInput(f"previous version {previous!r} is not X.Y.Z")
    if bump == "auto":
        if not previous_manifest:
            raise BadInput(f"{previous} has no manifest to compare with: pass the bump explicitly (major|minor|patch)")
        bump, reason = auto_bump(previous_manifest, current)
    else:
        reason = f"{bump}: requested explicitly"
    major, minor, patch = parsed
    bumped = {"major": (major + 1, 0, 0), "minor": (major, minor + 1, 0), "patch": (major, minor, patch + 1)}[bump]
    return ".".join(map(str, bumped)), reason


def auto_bump(previous: dict[str, Any], current: dict[str, Any]) -> tuple[str, str]:
    """The AUTO rule of the module docstring: (level, reason naming what changed)."""
    changes: dict[str, list[str]] = {"major": [], "minor": [], "patch": []}
    before, after = previous.get("system") or {}, current.get("system") or {}
    for key in ("provider", "model"):
        if before.get(key) != after.get(key):
            changes["major"].append(f"{key} {before.get(key)} -> {after.get(key)}")
    if before.get("params") is not None and after.get("params") is not None and before["params"] != after["params"]:
        changes["minor"].append("params")  # unknown params (an older summary) are judged by the bot.yaml hash alone
    old, new = previous.get("hashes") or {}, current.get("hashes") or {}
    old_versions, new_versions = old.get("versions") or {}, new.get("versions") or {}
    for key, level, label in (("prompt", "minor", "prompt"), ("config", "minor", "bot.yaml")):
        if old_versions.get(key) != new_versions.get(key):
            changes[level].append(label)
    if old_versions.get("knowledge") != new_versions.get("knowledge"):
        changes["patch"].append("knowledge")
    old_sets, new_sets = old.get("datasets") or {}, new.get("datasets") or {}
    for name in sorted(old_sets.keys() | new_sets.keys()):
        if old_sets.get(name) != new_sets.get(name):
            changes["patch"].append(f"dataset {name}")
    if old.get("eval_config") != new.get("eval_config"):
        changes["patch"].append("eval config")
    for level in ("major", "minor", "patch"):
        if changes[level]:
            changed = [c for lvl in ("major", "minor", "patch") for c in changes[lvl]]
            return level, f"{level}: changed {', '.join(changed)}"
    return "patch", "patch: nothing changed (a re-release with new evidence)"


def latest_tag(prefix: str, repo_dir: Path) -> str | None:
    """The highest `<prefix>X.Y.Z` tag by semantic version; tags that do not parse are ignored."""
    _check_prefix(prefix)
    best: tuple[tuple[int, int, int], str] | None = None
    for tag in git(Path(repo_dir), "tag", "--list", f"{prefix}*").splitlines():
        version = parse_version(tag[len(prefix) :]) if tag.startswith(prefix) else None
        if version and (best is None or version > best[0]):
            best = (version, tag)
    return best[1] if best else None


def read_manifest(tag: str, repo_dir: Path) -> dict[str, Any] | None:
    """The manifest in an annotated tag's message; None for a lightweight tag or another message."""
    text = git(Path(repo_dir), "tag", "-l", "--format=%(contents)", tag)
    title, _, rest = text.partition("\n")
    if title.strip() != TITLE.format(tag=tag):
        return None
    try:  # raw_decode: a signed tag's message ends with the signature, after the JSON
        manifest, _ = json.JSONDecoder().raw_decode(rest.strip())
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) else None


def release(
    results_dir: Path,
    prefix: str,
    bump: str,
    repo_dir: Path,
    remote: str = "origin",
    push: bool = True,
    api: Any = None,
) -> dict[str, Any]:
    """Tag HEAD as the next model version if the release gate passed; push the tag; optionally a GitHub Release."""
    results_dir, repo_dir = Path(results_dir), Path(repo_dir)
    _check_prefix(prefix)
    if bump not in BUMPS:
        raise BadInput(f"bump must be one of {', '.join(BUMPS)}, got {bump!r}")
    if api is not None and not push:
        raise BadInput("a GitHub Release needs the tag on the remote: drop --no-push")
    verdict, summary = read_json(results_dir / "verdict.json"), read_json(results_dir / "summary.json")
    if verdict.get("verdict") != "PASS" or verdict.get("mode") != "release":
        raise ReleaseRefused(
            f"refused: {results_dir / 'verdict.json'} says {verdict.get('verdict')!r} in mode {verdict.get('mode')!r};"
            " a model version needs PASS from the release gate (make gate GATE_MODE=release)"
        )
    if api is not None:
        for name in ("report.md", "report.html"):
            if not (results_dir / name).is_file():
                raise BadInput(f"{results_dir / name}: missing (the GitHub Release attaches it)")
    sha = head_sha(repo_dir)
    evaluated = summary.get("git_sha")
    if evaluated and evaluated != sha:
        raise BadInput(f"the results were evaluated at {evaluated[:12]} but HEAD is {sha[:12]}: tag what was evaluated")
    previous = latest_tag(prefix, repo_dir)
    current = {"system": system_of(summary), "hashes": hashes_of(summary)}
    previous_manifest = read_manifest(previous, repo_dir) if previous else None
    version, reason = next_version(previous[len(prefix) :] if previous else None, bump, previous_manifest, current)
    tag = prefix + version
    if local_tag_exists(repo_dir, tag):
        raise TagExists(f"tag {tag} already exists: a model version is never moved or reused")
    if push and remote_tag_exists(repo_dir, remote, tag):
        raise TagExists(f"tag {tag} already exists on {remote} (fetch its tags: git fetch --tags {remote})")
    manifest = {**build_manifest(results_dir, tag, sha), "previous": previous, "bump_reason": reason}
    message = TITLE.format(tag=tag) + "\n\n" + json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
    annotate = ("tag", "--annotate", "--cleanup=verbatim", "--file=-", tag, sha)
    git(repo_dir, *annotate, stdin=message + "\n", env=tagger_env(repo_dir))
    if push:
        try:
            push_tag(repo_dir, remote, tag)
        except GitError:
            git(repo_dir, "tag", "--delete", tag)  # nothing half-done: a retry computes the same version
            raise
    from evalharness.results import write_json  # not at the top: `evalharness ci --help` needs no yaml

    write_json(results_dir / MANIFEST_FILE, manifest)
    done = {"tag": tag, "version": version, "previous": previous, "reason": reason, "git_sha": sha, "pushed": push}
    done.update(manifest=str(results_dir / MANIFEST_FILE), release_url=None)
    if api is not None:
        try:
            done["release_url"] = github_release(api, tag, results_dir)
        except InfraError as exc:
            raise InfraError(f"{tag} was pushed, but the GitHub Release was not completed: {exc}") from None
    return done


def github_release(api: Any, tag: str, results_dir: Path) -> str | None:
    body = (results_dir / "report.md").read_text(encoding="utf-8")
    created = api.create_release(tag, tag, body)
    for name, content_type in ASSETS.items():
        api.upload_release_asset(created, results_dir / name, name, content_type)
    return created.get("html_url")


def _check_prefix(prefix: str) -> None:
    if not _PREFIX.fullmatch(prefix) or ".." in prefix or prefix.endswith((".", "/.")):
        raise BadInput(f"tag prefix {prefix!r}: use letters, digits and . _ / - (e.g. model-v or bot/)")
