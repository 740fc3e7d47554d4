"""On the PYTHONPATH of processes started by tests (conftest.py puts it there): the loopback guard, installed
before the process imports anything else."""

import os

if os.environ.get("LOOPBACK_GUARD_LOG"):
    import loopback_guard

    loopback_guard.install()
