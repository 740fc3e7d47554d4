"""The verdict words, shared by every comparison and report.

PASS   proven not worse than the tolerance          FAIL          proven worse than the tolerance
WORSE? proven worse than the baseline, by more than the tolerance at face value, but not proven beyond it:
       blocks a PR until a maintainer accepts it    INCONCLUSIVE  the data cannot tell (passes in PR mode)
"""

PASS, FAIL, WORSE, INCONCLUSIVE = "PASS", "FAIL", "WORSE?", "INCONCLUSIVE"
