"""What one API process learnt in the last seconds, by key: a token's account
(service/auth.py), a client's count of unfinished rows (service/limits.py)."""
import threading
import time
from typing import Generic, TypeVar

V = TypeVar("V")


class Recent(Generic[V]):
    """Values by key, each with when it was learnt; at most `size` keys (all are
    forgotten rather than grow past it)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size, self.lock = size, threading.Lock()
        self.items: dict[str, tuple[V, float]] = {}

    def get(self, key: str, max_age: float) -> V | None:
        """The value learnt less than max_age seconds ago, or None."""
        with self.lock:
            item = self.items.get(key)
        if item is None or time.monotonic() - item[1] > max_age:
            return None
        return item[0]

    def put(self, key: str, value: V, learnt_at: float | None = None) -> None:
        with self.lock:
            if len(self.items) >= self.size:
                self.items = {}
            self.items[key] = (value, time.monotonic() if learnt_at is None else learnt_at)

    def add(self: "Recent[int]", key: str, amount: int) -> None:
        """Adds to a number kept, when it was learnt unchanged."""
        with self.lock:
            if key in self.items:
                value, learnt_at = self.items[key]
                self.items[key] = (value + amount, learnt_at)

    def forget(self, key: str) -> None:
        with self.lock:
            self.items.pop(key, None)
