"""Model selection (`make select`): candidate versions of bot.yaml, run on the eval suites, ranked.

candidates.py    evals/candidates.yaml: named overrides of bot.yaml, validated, written out as files
runs.py          every candidate evaluated (concurrently, sharing the model-call cache) into its results dir
leaderboard.py   per-metric intervals, paired comparisons, cost, latency and the recommendation
render.py        leaderboard.md, leaderboard.json, leaderboard.html
plot.py          the quality-against-cost picture of leaderboard.html, readable on ties and zero cost
"""
