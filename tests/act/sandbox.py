"""Run one workflow with act, inside a loopback-only network namespace, beside loopback stand-ins.

Started by tests/test_act_workflows.py as `unshare -rn python sandbox.py SPEC.json`: in the new namespace
only 127.0.0.1 exists, so neither act nor a workflow step can reach any other address; the stand-in
OpenAI-compatible judge and GitHub API (the baked project's own test servers) run in this process, in the
same namespace. Writes act's JSON log, the GitHub stand-in's state and act's exit code next to SPEC.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ACTIONS = Path(__file__).resolve().parent / "actions"
PINS = {  # every marketplace action the workflows use, at the exact pinned commit
    "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683": "checkout",
    "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684": "cache",
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02": "upload-artifact",
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093": "download-artifact",
    "astral-sh/setup-uv@e92bafb6253dcd438e0484186d7669ea7a8ca1cc": "setup-uv",
    "actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020": "setup-node",
}


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    run, project = Path(spec["run_dir"]), Path(spec["project"])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False, capture_output=True)
    fake_openai = load(project / "tests" / "fake_openai.py", "act_fake_openai")
    fake_github = load(project / "tests" / "fake_github.py", "act_fake_github")
    judge_server = fake_openai.FakeOpenAI(default=fake_openai.judge_reply(score=8))
    github_server = fake_github.FakeGitHub(repo=spec["repo_name"], token=None)
    with judge_server as judge, github_server as github:
        secrets = {k: v.replace("{judge_url}", judge.base_url) for k, v in spec.get("secrets", {}).items()}
        (run / "secrets.env").write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
        home = run / "home"
        home.mkdir(exist_ok=True)
        (home / ".actrc").touch()  # no first-run questions
        env_args = []
        for key, value in {**spec.get("env", {}), "GITHUB_API_URL": github.base_url}.items():
            env_args += ["--env", f"{key}={value}"]
        command = [
            spec["act"],
            spec["event"],
            "-C",
            str(spec["repo"]),
            "-W",
            spec["workflow"],
            "-e",
            spec["event_file"],
            "-P",
            "ubuntu-latest=-self-hosted",
            "--container-daemon-socket",
            "-",
            "--json",
            "--action-offline-mode",
            "--no-skip-checkout",
            "--no-cache-server",
            "--action-cache-path",
            str(run / "act-cache"),
            "--secret-file",
            str(run / "secrets.env"),
            "--env-file",
            "/dev/null",
            "--var-file",
            "/dev/null",
            "--input-file",
            "/dev/null",
            *env_args,
        ]
        for pin, folder in PINS.items():
            command += ["--local-repository", f"{pin}={ACTIONS / folder}"]
        environment = {
            "HOME": str(home),
            "PATH": spec["path"],
            "LANG": "C.UTF-8",
            "ACT_DISABLE_VERSION_CHECK": "1",
        }
        with open(run / "act.jsonl", "w") as log:
            code = subprocess.run(
                command, env=environment, stdout=log, stderr=subprocess.STDOUT, timeout=1500
            ).returncode
        releases = [{"tag": r.tag_name, "assets": sorted(a.name for a in r.assets)} for r in github.releases]
        (run / "github.json").write_text(json.dumps({"releases": releases}))
        (run / "judge-requests.json").write_text(json.dumps(len(judge.requests)))
    (run / "exit-code").write_text(str(code))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
