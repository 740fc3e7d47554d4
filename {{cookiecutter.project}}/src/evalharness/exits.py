"""The exit codes every harness command returns: the contract CI branches on (docs/evals.md: "Reading a verdict").

0 pass or done, 1 quality fail (or a refused release), 2 bad input or config, 3 infrastructure error
(model, judge, network). An infrastructure error is never reported as a quality failure."""

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INFRA = 0, 1, 2, 3
