"""The latest values of a computation by key, within a bound; safe to share between threads.

What the driver works out once and asks again (:mod:`.data.plan_memo`: a
plan's checks and partition count; :mod:`.estimators.built_models`: the
models built for fits) is kept here, the least recently used going first.

Example::

    >>> squares = Memo(full=lambda values: len(values) > 2)
    >>> squares.get(3, lambda: 9)   # computed, then kept
    9
    >>> squares.get(3, lambda: 0)   # kept
    9
"""
import collections
import threading


class Memo:
    """Values by key; ``full(values)`` says when those kept are over the bound, and the least recently used go
    until they are not."""

    def __init__(self, full):
        self.full = full
        self._values = collections.OrderedDict()
        self._lock = threading.Lock()

    def __iter__(self):
        """The keys kept, the least recently used first."""
        with self._lock:
            return iter(list(self._values))

    def get(self, key, compute):
        """The value kept for ``key``, else ``compute()`` (then kept, unless it raises)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
            while self._values and self.full(self._values.values()):
                self._values.popitem(last=False)
        return value
