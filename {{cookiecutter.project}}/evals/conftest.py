"""Eval suites are pytest tests; the harness's plugin runs them concurrently into a results dir."""

pytest_plugins = ["evalharness.pytest_plugin"]
