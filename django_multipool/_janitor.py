"""The one background thread per process that tidies up after borrowers.

It does what may not happen where the need is noticed: a weakref callback
or a finaliser runs wherever the garbage collector runs, possibly in a
thread that holds a pool's lock, so it only queues work (:func:`defer`,
a ``deque.append``: no lock, no I/O). The janitor, and the next checkout of
any pool (:func:`run_deferred`), do that work. Every period the janitor
also scans each pool's :class:`~django_multipool.ledger.Ledger`: dropped
borrowers are reclaimed and ``leak_timeout`` warnings given.

Started by the first pool that lends a connection; stops when no pool is
left; started again in a forked child, which forgets the parent's ledgers
and queued work (their connections belong to the parent).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from ._fork import after_fork_in_child
from .ledger import collect_garbage

if TYPE_CHECKING:
    from .ledger import Ledger

__all__ = ["defer", "janitor", "run_deferred"]

logger = logging.getLogger("django_multipool")

#: How often the janitor looks, at the longest (leak_timeout may ask for more).
PERIOD = 1.0

_deferred: deque[Callable[[], Any]] = deque()


def defer(work: Callable[[], Any]) -> None:
    """Queue ``work`` for the janitor or the next checkout. Safe in a finaliser."""
    _deferred.append(work)


def run_deferred() -> None:
    """Run the queued work; called by the janitor and at checkouts when any is queued."""
    while _deferred:
        try:
            work = _deferred.popleft()
        except IndexError:  # another thread took the last one
            return
        try:
            work()
        except Exception:
            logger.exception("deferred pool work failed")


class _Janitor:
    def __init__(self) -> None:
        self._ledgers: weakref.WeakSet[Ledger] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def watch(self, ledger: Ledger) -> None:
        with self._lock:
            self._ledgers.add(ledger)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="django-multipool-janitor", daemon=True
                )
                self._thread.start()
        if ledger.leak_timeout is not None:
            # It may be napping for PERIOD: look again at the new, shorter one.
            self._wake.set()

    def unwatch(self, ledger: Ledger) -> None:
        with self._lock:
            self._ledgers.discard(ledger)

    def nudge(self) -> None:
        """Make the janitor look now (tests, and pools that just closed)."""
        self._wake.set()

    def _period(self, ledgers: list[Ledger]) -> float:
        # A warning comes at most a quarter of leak_timeout late.
        period = PERIOD
        for ledger in ledgers:
            if ledger.leak_timeout is not None:
                period = min(period, max(0.05, ledger.leak_timeout / 4))
        return period

    def _run(self) -> None:
        while True:
            with self._lock:
                ledgers = list(self._ledgers)
                if not ledgers and not _deferred:
                    self._thread = None
                    return
            period = self._period(ledgers)
            del ledgers  # a ledger of a pool that is gone must be free to go too
            self._wake.wait(period)
            self._wake.clear()
            self.sweep()

    def sweep(self) -> None:
        """One round: queued work, then every ledger (a collection first if one may help)."""
        run_deferred()
        with self._lock:
            ledgers = list(self._ledgers)
        waiting = [loan for ledger in ledgers for loan in ledger.waiting_for_collection()]
        # Borrowers of ended threads are usually reference cycles: a
        # collection frees them, and their queued work runs right after.
        if waiting and collect_garbage():
            for loan in waiting:
                loan.probed = True
            run_deferred()
        now = monotonic()
        for ledger in ledgers:
            try:
                ledger.scan(now)
                ledger.fold_usage()
                if ledger.timings is not None:
                    ledger.timings.drain()
            except Exception:  # never let one pool's trouble stop the others'
                logger.exception("the janitor's scan of pool %r failed", ledger.name)

    def forget_after_fork(self) -> None:
        self._ledgers = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread = None
        self._wake = threading.Event()
        _deferred.clear()


janitor = _Janitor()
after_fork_in_child("threads", janitor.forget_after_fork)
