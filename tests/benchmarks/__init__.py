"""`make bench`: eval throughput against the physical limit N·L/C, beside deepeval and promptfoo (README)."""
