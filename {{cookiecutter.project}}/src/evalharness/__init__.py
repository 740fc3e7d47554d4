"""A generic eval harness: datasets -> target -> metrics -> results dir -> statistical gate -> reports.

It knows nothing about the project it evaluates: `evals/eval.yaml` names a target factory (a small glue
module next to it) that adapts the bot. So this package can be updated from the template as a whole.
"""

__version__ = "0.1.0"
