"""Request counts of the fuzz tests, reported at the end of the run (tests/conftest.py)."""
from collections import Counter

REQUESTS = Counter()


def record(kind, status):
    REQUESTS[kind] += 1
    REQUESTS[f"{kind} {status // 100}xx"] += 1
