"""Metrics of this project's own, registered with @metric and switched on in eval.yaml (`metric_modules`).

Add yours here (or in another module listed there): the harness scores, gates and reports them like its
built-in metrics. docs/evals.md: "Your own metrics".
"""

from __future__ import annotations

import re

from evalharness.metrics.registry import metric

# Text that only a broken prompt or an unfinished answer shows a user: template markers, placeholders.
_LEFTOVER = re.compile(
    r"\{\s*\{|\}\s*\}|\{\s*%|<\s*(?:insert|todo|placeholder)[^>]*>|\bTODO\b|\[citation needed\]", re.I
)


@metric(kind="pass_fail")
def no_placeholders(case, output):
    """1 when the answer shows no template or placeholder text, else 0 with what was found."""
    found = sorted({m.group(0) for m in _LEFTOVER.finditer(output.answer)})
    return (0.0, f"placeholder text in the answer: {found}") if found else (1.0, "no placeholder text")
