"""Unit tests run their RQ workers on the queue of files and large submissions alone:
every submission goes there (INTERACTIVE_MAX_ROWS 0), so that a test's jobs are in one
queue it can count. tests/unit/test_interactive.py sets the default back."""
import pytest

import settings


@pytest.fixture(autouse=True)
def one_prediction_queue(monkeypatch):
    monkeypatch.setattr(settings, "INTERACTIVE_MAX_ROWS", 0)
