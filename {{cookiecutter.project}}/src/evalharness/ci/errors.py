"""The failures of a CI step, each carrying the exit code the workflow sees (the gate's convention)."""

from __future__ import annotations

from evalharness.exits import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_INFRA, EXIT_PASS

EXIT_DONE, EXIT_REFUSED = EXIT_PASS, EXIT_FAIL  # what the CI steps call a pass and a refusal


class CIError(Exception):
    exit_code = EXIT_INFRA


class Refused(CIError):
    """The evidence does not allow the step (e.g. the release gate did not pass)."""

    exit_code = EXIT_REFUSED


class BadInput(CIError):
    """An argument, a file or an artifact is wrong: fixing it is up to whoever supplied it."""

    exit_code = EXIT_BAD_INPUT


class InfraError(CIError):
    """git or the GitHub API failed or could not be reached: not a verdict about the model."""

    exit_code = EXIT_INFRA
