"""The generated PR and release workflows, executed end to end by `act` (host mode), offline.

A baked project is pushed to a local bare "GitHub" remote; every marketplace action is redirected to a
stand-in in tests/act/actions; each act run happens in a loopback-only network namespace (tests/act/
sandbox.py) beside a stand-in judge and GitHub API. The bot answers offline; the judge is the stand-in.

Slow: each workflow run installs the project (uv, offline from its cache) and runs the evals per job.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import TEMPLATE_DIR, run_cookiecutter
from tests.test_baked_project import make

pytestmark = pytest.mark.slow

SECRET = "sk-act-secret-7f3a9c"  # must never reach a fork PR's steps
REPO_NAME = "acme/my-chatbot"
BIN = Path(sys.executable).parent


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class Lab:
    """A baked repo with a bare origin, and a way to run one workflow event in the sandbox."""

    def __init__(self, root: Path):
        self.root = root
        # promptfoo off: its job's steps are skipped (no package-lock.json), so npm is not needed in the netns.
        result = run_cookiecutter(root / "bake", {"promptfoo": "no"})
        assert result.exit_code == 0, result.output
        self.repo = result.project_dir
        config = self.repo / "evals/eval.yaml"  # a loopback model needs no rate limit: do not wait for it
        config.write_text(config.read_text("utf-8").replace("requests_per_minute: 600 ", "requests_per_minute: 60000 "))
        installed = make(self.repo, "install")  # writes uv.lock and fills uv's cache for the offline jobs
        assert installed.returncode == 0, installed.stderr[-2000:]
        self.origin = root / "remotes" / "github.com" / f"{REPO_NAME}.git"  # act reads the repo name from it
        self.store = root / "store"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.origin))
        for args in (("init", "-q", "-b", "main"), ("config", "user.name", "dev"), ("config", "user.email", "d@x")):
            git(self.repo, *args)
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", "baked")
        git(self.repo, "remote", "add", "origin", str(self.origin))
        git(self.repo, "push", "-q", "origin", "main")
        self.main = git(self.repo, "rev-parse", "HEAD")
        self.noop = self.branch("noop", "README.md", lambda text: text + "\nA harmless edit.\n")
        self.broken = self.branch("broken", "bot.yaml", lambda text: text.replace("  top_k: 4 ", "  top_k: 0 "))

    def branch(self, name: str, file: str, change) -> str:  # noqa: ANN001 - change: str -> str
        git(self.repo, "checkout", "-q", "-b", name, self.main)
        path = self.repo / file
        path.write_text(change(path.read_text(encoding="utf-8") if path.exists() else ""), encoding="utf-8")
        git(self.repo, "add", file)
        git(self.repo, "commit", "-qm", f"{name} change")
        git(self.repo, "push", "-q", "origin", name)
        sha = git(self.repo, "rev-parse", "HEAD")
        git(self.repo, "checkout", "-q", "main")
        return sha

    def pull_request(self, head: str, fork: bool = False) -> dict:
        head_repo = "mallory/my-chatbot" if fork else REPO_NAME
        return {
            "action": "opened",
            "number": 7,
            "repository": {"full_name": REPO_NAME, "name": "my-chatbot", "default_branch": "main"},
            "pull_request": {
                "number": 7,
                "head": {"ref": "feature", "sha": head, "repo": {"full_name": head_repo, "fork": fork}},
                "base": {"ref": "main", "sha": self.main, "repo": {"full_name": REPO_NAME, "fork": False}},
            },
        }

    def run(self, name: str, event: str, workflow: str, payload: dict, at: str = "main") -> dict:
        run_dir = self.root / "runs" / name
        run_dir.mkdir(parents=True)
        git(self.repo, "checkout", "-q", at)  # act takes GITHUB_SHA from the working copy's HEAD
        (run_dir / "event.json").write_text(json.dumps(payload))
        uv = Path(os.environ.get("UV") or shutil.which("uv") or TEMPLATE_DIR / ".tools/bin/uv")
        uv_cache = subprocess.run([str(uv), "cache", "dir"], capture_output=True, text=True).stdout.strip()
        python_dir = Path(os.path.realpath(sys.executable)).parent
        spec = {
            "act": str(BIN / "act"),
            "run_dir": str(run_dir),
            "project": str(self.repo),
            "repo": str(self.repo),
            "repo_name": REPO_NAME,
            "event": event,
            "event_file": str(run_dir / "event.json"),
            "workflow": f".github/workflows/{workflow}",
            "path": f"{python_dir}:/usr/local/bin:/usr/bin:/bin",
            "secrets": {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": "{judge_url}"},
            "env": {
                "ACT_ORIGIN": str(self.origin),
                "ACT_STORE": str(self.store),
                "ACT_UV_DIR": str(uv.parent),
                "UV_CACHE_DIR": uv_cache,
                "UV_OFFLINE": "1",
                "BOT_PROVIDER": "offline",
                "GIT_PAGER": "cat",
            },
        }
        (run_dir / "spec.json").write_text(json.dumps(spec))
        sandbox = TEMPLATE_DIR / "tests" / "act" / "sandbox.py"
        subprocess.run(
            ["unshare", "-rn", sys.executable, str(sandbox), str(run_dir / "spec.json")], check=True, timeout=1800
        )
        git(self.repo, "checkout", "-q", "main")
        return read_run(run_dir)


def read_run(run_dir: Path) -> dict:
    records = [json.loads(line) for line in (run_dir / "act.jsonl").read_text().splitlines() if line.startswith("{")]
    jobs = {r["job"].strip(): r["jobResult"] for r in records if "jobResult" in r}
    summaries = "".join(r.get("content", "") for r in records if r.get("command") == "summary")
    log = "".join(r.get("msg", "") for r in records)
    return {
        "code": int((run_dir / "exit-code").read_text()),
        "jobs": jobs,
        "summary": summaries,
        "log": log,
        "github": json.loads((run_dir / "github.json").read_text()),
        "judge_requests": json.loads((run_dir / "judge-requests.json").read_text()),
        "raw": (run_dir / "act.jsonl").read_text(),
    }


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to run act in a loopback-only network namespace")
    return Lab(tmp_path_factory.mktemp("act"))


def job(result: dict, suffix: str) -> str | None:
    """A job's result by the end of its act name (reusable-workflow jobs are named caller/workflow/job)."""
    matches = [value for name, value in result["jobs"].items() if name.endswith(suffix)]
    return matches[0] if matches else None


def test_a_no_op_pr_passes_the_eval_gate(lab: Lab) -> None:
    result = lab.run("noop", "pull_request", "pr.yml", lab.pull_request(lab.noop))
    assert result["code"] == 0, result["log"][-4000:]
    assert job(result, "eval-gate") == "success"
    assert job(result, "/gate") == "success"
    assert "Eval gate: " in result["summary"] and "FAIL" not in result["summary"].split("\n", 3)[2]
    summary = json.loads((lab.store / "artifacts" / "eval-results" / "summary.json").read_text())
    assert summary["credentials"]["OPENAI_API_KEY"] is True  # a same-repo PR gets the keys
    assert summary["judge"]["status"] == "on" and result["judge_requests"] > 0


def test_b_a_pr_that_breaks_retrieval_fails_with_the_regressed_metrics(lab: Lab) -> None:
    result = lab.run("broken", "pull_request", "pr.yml", lab.pull_request(lab.broken))
    assert result["code"] != 0
    assert job(result, "/gate") == "failure"
    # On GitHub `eval-gate` (if: always()) then reports the failure. act stops a run once a reusable workflow
    # fails, so `eval-gate` never starts here: the next test runs that job verbatim behind stand-in eval jobs.
    assert job(result, "eval-gate") is None
    assert "Eval gate: FAIL" in result["summary"]
    for metric in ("facts", "source_recall", "refusal"):
        assert f"| {metric} |" in result["summary"]


# (live, fork) results -> what the required check must say. Exactly one eval job applies to a PR.
REQUIRED_CHECK = {
    ("failure", "skipped"): "failure",  # the live gate failed: block the merge
    ("skipped", "failure"): "failure",  # a fork's replayed gate failed
    ("success", "skipped"): "success",
    ("skipped", "success"): "success",
    ("skipped", "skipped"): "failure",  # nothing ran: never a silent pass
}


def test_b_the_required_check_follows_the_eval_jobs(lab: Lab) -> None:
    """pr.yml's `eval-gate` job, unchanged, behind plain stand-in jobs that end as each scenario says (act runs
    `if: always()` jobs after failed plain jobs, which it does not after a failed reusable workflow)."""
    pr = yaml.safe_load((lab.repo / ".github/workflows/pr.yml").read_text("utf-8"))
    gate = pr["jobs"]["eval-gate"]
    assert gate["needs"] == ["live", "fork"] and gate["if"] == "${{ always() }}"
    stand_in = {"success": {"run": "true"}, "failure": {"run": "exit 1"}, "skipped": {"run": "true"}}
    jobs = {}
    for index, ((live, fork), _) in enumerate(REQUIRED_CHECK.items()):
        for name, result in (("live", live), ("fork", fork)):
            jobs[f"{name}-{index}"] = {"runs-on": "ubuntu-latest", "steps": [stand_in[result]]}
            if result == "skipped":
                jobs[f"{name}-{index}"]["if"] = "${{ false }}"
        jobs[f"eval-gate-{index}"] = {**gate, "name": f"eval-gate-{index}", "needs": [f"live-{index}", f"fork-{index}"]}
    workflow = {"name": "required-check", "on": {"pull_request": None}, "permissions": {}, "jobs": jobs}
    branch = lab.branch(
        "required-check", ".github/workflows/required-check.yml", lambda _: yaml.safe_dump(workflow, sort_keys=False)
    )
    result = lab.run("required-check", "pull_request", "required-check.yml", lab.pull_request(branch), at=branch)
    for index, (scenario, expected) in enumerate(REQUIRED_CHECK.items()):
        assert job(result, f"eval-gate-{index}") == expected, (scenario, result["jobs"], result["log"][-3000:])


def test_c_release_tags_only_on_pass(lab: Lab) -> None:
    failed = lab.run("release-broken", "workflow_dispatch", "release.yml", {"inputs": {"bump": "auto"}}, at="broken")
    assert job(failed, "/gate") == "failure"
    assert job(failed, "tag the model version") is None  # skipped: the release gate did not pass
    assert git(lab.root, "ls-remote", "--tags", str(lab.origin)) == ""

    passed = lab.run("release", "workflow_dispatch", "release.yml", {"inputs": {"bump": "auto"}})
    assert passed["code"] == 0, passed["log"][-4000:]
    assert job(passed, "tag the model version") == "success"
    tags = git(lab.root, "ls-remote", "--tags", str(lab.origin))
    assert "refs/tags/model-v1.0.0" in tags
    clone = lab.root / "verify"
    git(lab.root, "clone", "-q", str(lab.origin), str(clone))
    message = git(clone, "tag", "-l", "--format=%(contents)", "model-v1.0.0")
    manifest = json.loads(message.split("\n", 2)[2])
    assert manifest["verdict"]["verdict"] == "PASS" and manifest["git_sha"] == lab.main
    assert manifest["hashes"]["versions"]["knowledge"] and manifest["judge"]["status"] == "on"
    assert passed["github"]["releases"] == [
        {"tag": "model-v1.0.0", "assets": ["manifest.json", "report.html", "report.md"]}
    ]


def test_d_a_fork_pr_gets_no_secrets_and_replays(lab: Lab) -> None:
    result = lab.run("fork", "pull_request", "pr.yml", lab.pull_request(lab.noop, fork=True))
    assert job(result, "eval-gate") == "success", result["log"][-4000:]
    assert SECRET not in result["raw"]
    results = lab.store / "artifacts" / "eval-results"
    summary = json.loads((results / "summary.json").read_text())
    assert summary["mode"] == "replay" and summary["model_calls"]["live"] == 0
    assert summary["credentials"] == {"OPENAI_API_KEY": False, "JUDGE_API_KEY": False, "LANGSMITH_API_KEY": False}
    assert result["judge_requests"] == 0  # replay: the (stand-in) judge was never called


def test_e_model_selection_evaluates_every_contestant_and_ranks_them(lab: Lab) -> None:
    inputs = {"inputs": {"candidates": "", "open-pr": False}}
    result = lab.run("select", "workflow_dispatch", "model-selection.yml", inputs)
    assert result["code"] == 0, result["log"][-4000:]
    assert job(result, "leaderboard") == "success"
    assert job(result, "open the switch PR") is None  # not asked for
    board = json.loads((lab.store / "artifacts" / "leaderboard" / "leaderboard.json").read_text())
    contestants = {row["name"]: row for row in board["contestants"]}
    assert set(contestants) == {"current", "gpt-4.1-mini", "fewer-passages"}
    assert all(row["status"] != "error" and row["cases"] > 0 for row in contestants.values())
    # Each contestant ran its own bot.yaml: three different config hashes in three results artifacts.
    hashes = {
        json.loads((lab.store / "artifacts" / f"select-{name}" / "summary.json").read_text())["hashes"]["versions"][
            "config"
        ]
        for name in contestants
    }
    assert len(hashes) == 3
    assert "## Model selection: " in result["summary"] and board["recommendation"]["message"] in result["summary"]
