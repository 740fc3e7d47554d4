"""Suite "support": help-center questions, one test per case (dataset: evals/datasets/support.yaml)."""

from __future__ import annotations

import pytest

from evalharness.pytest_plugin import suite_cases


@pytest.mark.eval("support")
@pytest.mark.parametrize("case", suite_cases("support"), ids=lambda case: case.id)
def test_support(case, eval_case) -> None:
    eval_case(case)
