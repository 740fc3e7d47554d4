"""Model-version releases with real git: a work repo, a local bare remote, hand-made results dirs."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from evalharness.ci.cli import main
from evalharness.ci.errors import BadInput
from evalharness.ci.git import remote_auth_env
from evalharness.ci.release import latest_tag, next_version, parse_version, read_manifest, release
from evalharness.report.markdown import MARKER

VERSIONS = {"config": "c1", "prompt": "p1", "knowledge": "k1"}
PARAMS = {"temperature": 0.0, "max_tokens": 400, "seed": 7}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A work repo with one commit and `origin` pointing at a bare repo; git isolated from the user's config."""
    (tmp_path / "gitconfig").write_text("", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Release Bot")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "release-bot@example.com")
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(tmp_path, "init", "-q", str(work))
    commit(work, "first")
    git(work, "remote", "add", "origin", str(remote))
    return work, remote


def commit(work: Path, message: str) -> str:
    (work / "bot.yaml").write_text(f"# {message}\n", encoding="utf-8")
    git(work, "add", "bot.yaml")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


def write_results(
    path: Path,
    work: Path,
    *,
    verdict: str = "PASS",
    mode: str = "release",
    model: str = "gpt-4o-mini",
    params: dict[str, Any] | None = None,
    knowledge: str = "k1",
    with_system: bool = True,
    git_sha: str | None = None,
) -> Path:
    """A results dir as the gate leaves it: summary.json, verdict.json, report.md, report.html."""
    path.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "schema": 1,
        "git_sha": git_sha or git(work, "rev-parse", "HEAD"),
        "provider": "openai",
        "model": model,
        "hashes": {
            "versions": {**VERSIONS, "knowledge": knowledge},
            "datasets": {"support": "d1"},
            "eval_config": "e1",
            "repeats": {"support": 1},
            "shard": "1/1",
        },
        "judge": {"model": "gpt-4o-mini", "status": "on"},
        "cost_usd": {"answers": 0.0123, "answers_priced": 50, "answers_total": 50},
        "latency_ms": {"p50": 812.0, "p95": 1900.5, "mean": 901.2},
    }
    if with_system:
        summary["system"] = {"provider": "openai", "model": model, "params": params or PARAMS}
    gate = {
        "schema": 2,
        "verdict": verdict,
        "mode": mode,
        "exit_code": {"PASS": 0, "FAIL": 1}.get(verdict, 1 if mode == "release" else 0),
        "alpha": 0.05,
        "metrics": [
            {"name": "facts", "head_mean": 0.91, "base_mean": 0.9, "delta": 0.01, "lower": -0.02, "upper": 0.04}
            | {"verdict": verdict, "tolerance": 0.05, "se": 0.012},
        ],
        "thresholds": [{"metric": "facts", "kind": "pass_rate", "value": 0.9, "minimum": 0.8, "verdict": "PASS"}],
    }
    (path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (path / "verdict.json").write_text(json.dumps(gate), encoding="utf-8")
    (path / "report.md").write_text(f"{MARKER}\n## Eval gate: {verdict}\n", encoding="utf-8")
    (path / "report.html").write_text("<!doctype html><title>Eval report</title>\n", encoding="utf-8")
    return path


def run(*args: str) -> int:
    return main(list(args))


def remote_tags(remote: Path) -> list[str]:
    return git(remote, "tag", "--list").split()


def tag_message(repo: Path, tag: str) -> tuple[str, dict[str, Any]]:
    title, _, rest = git(repo, "tag", "-l", "--format=%(contents)", tag).partition("\n")
    return title, json.loads(rest)


# ------------------------------------------------------------ the version rule

BASE = {"system": {"provider": "openai", "model": "gpt-4o-mini", "params": PARAMS}, "hashes": {}}
BASE["hashes"] = {"versions": VERSIONS, "datasets": {"support": "d1"}, "eval_config": "e1"}


def changed(**paths: Any) -> dict[str, Any]:
    """BASE with dotted paths replaced, e.g. changed(**{"system.model": "gpt-4o"})."""
    current = copy.deepcopy(BASE)
    for dotted, value in paths.items():
        *parents, leaf = dotted.split(".")
        node = current
        for key in parents:
            node = node[key]
        node[leaf] = value
    return current


@pytest.mark.parametrize(
    ("changes", "expected", "why"),
    [
        ({"system.provider": "azure"}, "2.0.0", "provider openai -> azure"),
        ({"system.model": "gpt-4o"}, "2.0.0", "model gpt-4o-mini -> gpt-4o"),
        ({"system.model": "gpt-4o", "hashes.versions.knowledge": "k2"}, "2.0.0", "knowledge"),
        ({"system.params": {**PARAMS, "temperature": 0.3}}, "1.5.0", "params"),
        ({"hashes.versions.prompt": "p2"}, "1.5.0", "prompt"),
        ({"hashes.versions.config": "c2"}, "1.5.0", "bot.yaml"),
        ({"hashes.versions.knowledge": "k2"}, "1.4.3", "knowledge"),
        ({"hashes.datasets": {"support": "d2"}}, "1.4.3", "dataset support"),
        ({"hashes.datasets": {"support": "d1", "refunds": "r1"}}, "1.4.3", "dataset refunds"),
        ({"hashes.eval_config": "e2"}, "1.4.3", "eval config"),
        ({}, "1.4.3", "nothing changed"),
        ({"system.params": None}, "1.4.3", "nothing changed"),  # unknown params: only the bot.yaml hash decides
    ],
)
def test_auto_bump_rule(changes: dict[str, Any], expected: str, why: str) -> None:
    version, reason = next_version("1.4.2", "auto", BASE, changed(**changes))
    assert version == expected
    level = {"2.0.0": "major", "1.5.0": "minor", "1.4.3": "patch"}[expected]
    assert reason.startswith(f"{level}: ") and why in reason


@pytest.mark.parametrize(("bump", "expected"), [("major", "2.0.0"), ("minor", "1.5.0"), ("patch", "1.4.3")])
def test_explicit_bump_overrides_the_rule(bump: str, expected: str) -> None:
    version, reason = next_version("1.4.2", bump, BASE, changed(**{"system.model": "gpt-4o"}))
    assert (version, reason) == (expected, f"{bump}: requested explicitly")


@pytest.mark.parametrize("bump", ["auto", "major", "minor", "patch"])
def test_first_release_is_1_0_0(bump: str) -> None:
    assert next_version(None, bump, None, BASE) == ("1.0.0", "first release")


def test_bad_bump_or_nothing_to_compare_with() -> None:
    with pytest.raises(BadInput, match="bump must be one of"):
        next_version("1.0.0", "huge", BASE, BASE)
    with pytest.raises(BadInput, match="no manifest"):
        next_version("1.0.0", "auto", None, BASE)
    assert next_version("1.0.0", "minor", None, BASE)[0] == "1.1.0"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.10.0", (1, 10, 0)),
        ("0.0.1", (0, 0, 1)),
        ("01.2.3", None),
        ("1.2", None),
        ("1.2.3-rc1", None),
        ("v1.2.3", None),
    ],
)
def test_parse_version(text: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == parsed


def test_latest_tag_sorts_semantically_and_ignores_other_tags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, _ = make_repo(tmp_path, monkeypatch)
    assert latest_tag("model-v", work) is None
    for tag in ("model-v1.9.0", "model-v1.10.0", "model-v1.2.3", "model-vnext", "model-v2.0", "model-v3.0.0-rc1"):
        git(work, "tag", tag)
    for tag in ("model-v-old9.0.0", "other-v9.0.0", "bot/2.0.0", "bot/10.0.0", "bot/x11.0.0"):
        git(work, "tag", tag)
    assert latest_tag("model-v", work) == "model-v1.10.0"
    assert latest_tag("bot/", work) == "bot/10.0.0"
    assert read_manifest("model-v1.10.0", work) is None  # lightweight: no manifest
    assert run("release", "--results", str(tmp_path / "r"), "--prefix", "*", "--repo", str(work)) == 2


# ------------------------------------------------------------ releasing


def test_the_tag_prefix_comes_from_pyproject_unless_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work, _remote = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work)
    args = ["release", "--results", str(results), "--repo", str(work), "--no-push"]
    assert run(*args) == 2  # no --prefix and no [tool.evalharness] tag_prefix: refused before tagging anything
    assert "tag_prefix" in capsys.readouterr().err and git(work, "tag") == ""
    (work / "pyproject.toml").write_text('[tool.evalharness]\ntag_prefix = "ship-"\n', encoding="utf-8")
    assert run(*args) == 0
    assert git(work, "tag") == "ship-1.0.0"


@pytest.mark.parametrize("prefix", ["model-v", "bot/"])
def test_release_pushes_an_annotated_tag_with_its_manifest(
    prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    assert run("release", "--results", str(results), "--prefix", prefix, "--repo", str(work)) == 0
    tag = f"{prefix}1.0.0"
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [tag, "reason: first release", "pushed to origin"]
    assert (tmp_path / "github_output").read_text(encoding="utf-8") == f"tag={tag}\nversion=1.0.0\n"

    assert f"refs/tags/{tag}" in git(work, "ls-remote", "--tags", "origin")
    assert remote_tags(remote) == [tag]
    assert git(remote, "cat-file", "-t", tag) == "tag"  # annotated
    assert git(remote, "rev-parse", f"{tag}^0") == git(work, "rev-parse", "HEAD")
    title, manifest = tag_message(remote, tag)
    assert title == f"Model version {tag}"
    assert manifest == json.loads((results / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == read_manifest(tag, work)
    assert manifest["tag"] == tag and manifest["version"] == "1.0.0"
    assert manifest["git_sha"] == git(work, "rev-parse", "HEAD")
    assert manifest["created"].endswith("Z")
    assert manifest["system"] == {"provider": "openai", "model": "gpt-4o-mini", "params": PARAMS}
    assert manifest["hashes"] == {"versions": VERSIONS, "datasets": {"support": "d1"}, "eval_config": "e1"}
    assert manifest["judge"] == {"model": "gpt-4o-mini", "status": "on"}
    assert manifest["verdict"] == {"verdict": "PASS", "mode": "release", "alpha": 0.05, "headline": None}
    facts = {"name": "facts", "head_mean": 0.91, "base_mean": 0.9, "delta": 0.01, "lower": -0.02, "upper": 0.04}
    assert manifest["scores"]["metrics"] == [{**facts, "verdict": "PASS"}]
    assert manifest["scores"]["thresholds"][0]["minimum"] == 0.8
    assert manifest["cost_usd"]["answers"] == 0.0123 and manifest["latency_ms"]["p95"] == 1900.5
    assert "langsmith_url" not in manifest and manifest["previous"] is None


@pytest.mark.parametrize(("verdict", "mode"), [("FAIL", "release"), ("INCONCLUSIVE", "release"), ("PASS", "pr")])
def test_no_tag_unless_the_release_gate_passed(
    verdict: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work, verdict=verdict, mode=mode)
    assert run("release", "--results", str(results), "--prefix", "model-v", "--repo", str(work)) == 1
    assert f"says '{verdict}' in mode '{mode}'" in capsys.readouterr().err
    assert git(work, "tag", "--list") == "" and remote_tags(remote) == []
    assert not (results / "manifest.json").exists()


def test_later_releases_follow_the_auto_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    steps = [
        ({}, "bot/1.0.0", "first release"),
        ({"knowledge": "k2"}, "bot/1.0.1", "patch: changed knowledge"),
        ({"knowledge": "k2", "params": {**PARAMS, "max_tokens": 800}}, "bot/1.1.0", "minor: changed params"),
        ({"knowledge": "k2", "model": "gpt-4o"}, "bot/2.0.0", "major: changed model gpt-4o-mini -> gpt-4o"),
        ({"knowledge": "k2", "model": "gpt-4o"}, "bot/2.0.1", "patch: nothing changed"),
    ]
    for number, (options, tag, reason) in enumerate(steps):
        commit(work, f"change {number}")
        results = write_results(tmp_path / f"results-{number}", work, **options)
        done = release(results, "bot/", "auto", work)
        assert (done["tag"], done["reason"][: len(reason)]) == (tag, reason)
    assert sorted(remote_tags(remote)) == [tag for _, tag, _ in steps]
    assert tag_message(remote, "bot/2.0.1")[1]["previous"] == "bot/2.0.0"


def test_an_existing_tag_is_never_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work)
    assert run("release", "--results", str(results), "--prefix", "model-v", "--repo", str(work)) == 0
    pushed = git(remote, "rev-parse", "model-v1.0.0")
    git(work, "tag", "--delete", "model-v1.0.0")  # a checkout without the remote's tags computes 1.0.0 again
    capsys.readouterr()
    assert run("release", "--results", str(results), "--prefix", "model-v", "--repo", str(work)) == 2
    assert "model-v1.0.0 already exists on origin" in capsys.readouterr().err
    assert git(remote, "rev-parse", "model-v1.0.0") == pushed and git(work, "tag", "--list") == ""


def test_a_previous_tag_without_manifest_needs_an_explicit_bump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, _ = make_repo(tmp_path, monkeypatch)
    git(work, "tag", "model-v1.0.0")
    commit(work, "second")
    results = write_results(tmp_path / "results", work)
    args = ["release", "--results", str(results), "--prefix", "model-v", "--repo", str(work), "--no-push"]
    assert run(*args) == 2
    assert run(*args, "--bump", "minor") == 0
    assert git(work, "tag", "--list", "model-v1.1.0") == "model-v1.1.0"


@pytest.mark.parametrize("failure", ["remote gone", "push rejected"])
def test_failed_push_is_exit_3_and_leaves_no_tag(
    failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    if failure == "remote gone":
        git(work, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    else:  # the remote answers ls-remote but refuses the push, e.g. a protected tag pattern
        hook = remote / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\necho 'tags are protected' >&2\nexit 1\n", encoding="utf-8")
        hook.chmod(0o755)
    results = write_results(tmp_path / "results", work)
    assert run("release", "--results", str(results), "--prefix", "model-v", "--repo", str(work)) == 3
    assert "failed" in capsys.readouterr().err
    assert git(work, "tag", "--list") == "" and remote_tags(remote) == []
    assert not (results / "manifest.json").exists()


def test_no_push_tags_locally_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work, with_system=False)
    done = release(results, "model-v", "auto", work, push=False)
    assert (done["tag"], done["pushed"]) == ("model-v1.0.0", False)
    assert remote_tags(remote) == [] and git(work, "cat-file", "-t", "model-v1.0.0") == "tag"
    # A summary without `system`: provider and model from the summary, params unknown.
    system = read_manifest("model-v1.0.0", work)["system"]
    assert system == {"provider": "openai", "model": "gpt-4o-mini", "params": None}


@pytest.mark.parametrize("problem", ["other commit", "no verdict", "not json", "bad bump"])
def test_bad_input_is_exit_2_and_tags_nothing(problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work, git_sha="0" * 40 if problem == "other commit" else None)
    if problem == "no verdict":
        (results / "verdict.json").unlink()
    if problem == "not json":
        (results / "summary.json").write_text("{not json", encoding="utf-8")
    args = ["release", "--results", str(results), "--prefix", "model-v", "--repo", str(work)]
    if problem == "bad bump":
        with pytest.raises(SystemExit) as exited:  # argparse
            run(*args, "--bump", "huge")
        assert exited.value.code == 2
    else:
        assert run(*args) == 2
    assert git(work, "tag", "--list") == "" and remote_tags(remote) == []


def test_without_a_git_identity_the_actions_bot_tags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, _ = make_repo(tmp_path, monkeypatch)
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)  # a fresh CI runner: no identity anywhere
    results = write_results(tmp_path / "results", work)
    assert release(results, "model-v", "auto", work, push=False)["tag"] == "model-v1.0.0"
    tagger = git(work, "for-each-ref", "--format=%(taggername) %(taggeremail)", "refs/tags/model-v1.0.0")
    assert tagger == "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


def test_the_token_authenticates_only_https_remotes_on_the_github_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, _ = make_repo(tmp_path, monkeypatch)
    for name in ("GITHUB_TOKEN", "GITHUB_SERVER_URL", "GIT_CONFIG_COUNT"):
        monkeypatch.delenv(name, raising=False)
    git(work, "remote", "add", "github", "https://github.com/acme/support-bot.git")
    git(work, "remote", "add", "elsewhere", "https://git.example.com/acme/support-bot.git")
    assert remote_auth_env(work, "github") == {}  # no token, no header
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_not-a-real-token")
    env = remote_auth_env(work, "github")
    assert base64.b64decode(env["GIT_CONFIG_VALUE_0"].split()[-1]) == b"x-access-token:ghs_not-a-real-token"
    # git itself applies the header to that remote's URL (and the token is in no argument).
    url = "https://github.com/acme/support-bot.git"
    header = subprocess.run(
        ["git", "config", "--get-urlmatch", "http.extraheader", url],
        cwd=work,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert header == env["GIT_CONFIG_VALUE_0"] and header.startswith("AUTHORIZATION: basic ")
    assert remote_auth_env(work, "origin") == {}  # a local path
    assert remote_auth_env(work, "elsewhere") == {}  # another server never sees the token
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://git.example.com")  # GitHub Enterprise Server
    assert remote_auth_env(work, "elsewhere")["GIT_CONFIG_KEY_0"] == "http.https://git.example.com/.extraheader"
