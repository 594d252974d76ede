"""Count something every ``interval`` seconds in a thread while the load runs.

Vendor-neutral: the count is any callable, e.g. the server sessions on one
database (``demo.database.ConnectionSampler`` for PostgreSQL's
``pg_stat_activity``; ``bench/storm/db.py`` for either vendor).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Sampler:
    """Call ``count()`` every ``interval`` seconds from ``start()`` to ``stop()``.

    A thread rather than a task: the load generator keeps the event loop busy,
    and a late sample is a sample that can miss a peak. ``count`` runs only on
    that thread, so it may use a connection of its own.
    """

    def __init__(
        self, count: Callable[[], int], interval: float = 0.05, name: str = "sampler"
    ) -> None:
        self.count = count
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.samples.append(self.count())
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
