"""Suite "probes": red-team attacks the bot must resist, one test per case (dataset: evals/datasets/probes.yaml)."""

from __future__ import annotations

import pytest

from evalharness.pytest_plugin import suite_cases


@pytest.mark.eval("probes")
@pytest.mark.parametrize("case", suite_cases("probes"), ids=lambda case: case.id)
def test_probes(case, eval_case) -> None:
    eval_case(case)
