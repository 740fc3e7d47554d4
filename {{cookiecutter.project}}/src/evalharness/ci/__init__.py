"""What the GitHub workflows call: `evalharness ci STEP` (cli.py; the small steps in steps.py).

The workflows hold wiring only; every decision (is this artifact well-formed, may this commit be released,
which version comes next) is made here, where it is unit-tested.

    comment.py     the sticky PR comment, from an eval artifact of an untrusted PR run (data only)
    release.py     model versions: the next semantic version (the AUTO rule), the annotated tag, the GitHub Release
    manifest.py    what a release records: system, content hashes, verdict, scores with intervals, cost, latency
    github_api.py  a small GitHub REST client (urllib, explicit timeout, the token never printed)
    git.py         git through subprocess with explicit arguments

Exit codes, as for the gate: 0 done, 1 refused (the gate did not pass), 2 bad input, 3 infrastructure.
"""

from evalharness.ci.errors import BadInput, CIError, InfraError, Refused

__all__ = ["BadInput", "CIError", "InfraError", "Refused"]
