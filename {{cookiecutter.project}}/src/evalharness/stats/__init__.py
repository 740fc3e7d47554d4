"""The statistics behind the gate: paired sign-flip tests across a family of metrics (paired.py,
signflip.py), group-sequential looks (sequential.py), bounds for absolute bars (bounds.py) and percentiles.

Import what you need from the submodules: this package itself stays light, because scipy (which the tests
and bounds use) takes a second to import and an eval run needs none of it."""

from evalharness.stats.verdicts import FAIL, INCONCLUSIVE, PASS, WORSE

__all__ = ["FAIL", "INCONCLUSIVE", "PASS", "WORSE"]
