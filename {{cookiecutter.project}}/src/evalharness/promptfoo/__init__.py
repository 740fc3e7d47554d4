"""promptfoo as a second eval engine over the same datasets: tests derived from the cases (tests.py), the bot
as a promptfoo provider (provider.py), and the CLI run with its exit code mapped onto the gate's (cli.py)."""
