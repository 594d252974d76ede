"""Leak detection for pools with ``leak_timeout`` set.

Two kinds of leak, both counted in :class:`~django_multipool.PoolStats`:

- a connection lent for longer than ``leak_timeout``: one WARNING on the
  ``django_multipool.leaks`` logger, with the stack that checked it out
  (``leaks_detected``). The connection stays with its borrower: it may be
  a long report, not a bug, and taking it away would break the borrower.
- a connection whose borrowing thread has ended without giving it back: no
  code can return it any more, so the pool takes it back (``leaks_reclaimed``).
  It is discarded, never reused: its session may hold an open transaction or
  any other state, and closing it is the only way to be sure that none of it
  reaches the next borrower. The pool opens a replacement.

A pool without ``leak_timeout`` pays nothing: the watch replaces the pool's
``acquire``/``release``/``discard`` on that instance only. One daemon thread
per process scans every watched pool; it is started on first use and again in
a forked child, which forgets the parent's watches (their connections belong
to the parent).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapter import PoolAdapter

__all__ = ["LeakWatch"]

logger = logging.getLogger("django_multipool.leaks")


@dataclass(slots=True)
class _Loan:
    conn: Any
    thread: threading.Thread
    since: float
    #: Captured without source lines (cheap); they are looked up when warning.
    stack: traceback.StackSummary
    warned: bool = False


class LeakWatch:
    """Watches the connections one pool lends; see the module docstring."""

    def __init__(self, pool: PoolAdapter, leak_timeout: float) -> None:
        self.leak_timeout = leak_timeout
        #: How often the monitor looks: often enough that a warning comes at
        #: most a quarter of the limit late, never more than once a second.
        self.period = max(0.05, min(1.0, leak_timeout / 4))
        self.detected = 0
        self.reclaimed = 0
        self._pool_name = pool.name
        # Keyed by id(): the loan holds the connection itself, so the id
        # cannot be reused while the entry exists.
        self._loans: dict[int, _Loan] = {}
        self._reclaimed: weakref.WeakSet[Any] = weakref.WeakSet()
        acquire, release, discard = pool.acquire, pool.release, pool.discard
        park, retake = pool.park, pool.retake
        self._discard = discard

        def watched_acquire(timeout: float | None = None) -> Any:
            conn = acquire(timeout)
            self._lend(conn, sys._getframe(1))
            return conn

        def watched_release(conn: Any) -> None:
            if self._end_loan(conn):
                release(conn)

        def watched_discard(conn: Any) -> None:
            if self._end_loan(conn):
                discard(conn)

        # A parked connection (release="transaction") is returned; taken back
        # by its borrower's retake(), it is lent anew, from that statement.
        def watched_park(spot: Any, conn: Any) -> None:
            if self._end_loan(conn):
                park(spot, conn)

        def watched_retake(spot: Any) -> Any:
            conn = retake(spot)
            if conn is not None:
                self._lend(conn, sys._getframe(1))
            return conn

        # Instance attributes shadow the class's methods on this pool only,
        # so pools without leak_timeout keep their fast path untouched.
        pool.acquire = watched_acquire  # type: ignore[method-assign]
        pool.release = watched_release  # type: ignore[method-assign]
        pool.discard = watched_discard  # type: ignore[method-assign]
        pool.park = watched_park  # type: ignore[method-assign]
        pool.retake = watched_retake  # type: ignore[method-assign]
        _monitor.add(self)

    def stop(self) -> None:
        """Stop watching (the pool closed); loans still out are forgotten."""
        _monitor.remove(self)
        self._loans.clear()

    @property
    def lent(self) -> int:
        return len(self._loans)

    def _end_loan(self, conn: Any) -> bool:
        """Forget ``conn``'s loan; False if the watch already took it back.

        Its borrower outlived its thread: the pool has it already.
        """
        return self._loans.pop(id(conn), None) is not None or conn not in self._reclaimed

    def _lend(self, conn: Any, frame: Any) -> None:
        stack = traceback.StackSummary.extract(traceback.walk_stack(frame), lookup_lines=False)
        stack.reverse()  # oldest call first, as tracebacks read
        self._loans[id(conn)] = _Loan(conn, threading.current_thread(), monotonic(), stack)

    def scan(self, now: float) -> None:
        """Warn about loans past the limit; reclaim those whose thread ended."""
        for key, loan in list(self._loans.items()):
            if not loan.thread.is_alive():
                # pop() decides between us and a release racing us: whoever
                # takes the entry handles the connection.
                if self._loans.pop(key, None) is loan:
                    self._reclaim(loan, now)
            elif not loan.warned and now - loan.since >= self.leak_timeout:
                loan.warned = True
                self.detected += 1
                logger.warning(
                    "Connection of pool %r held for %.1f s (leak_timeout is %g s) by thread "
                    "%r. It was checked out at:\n%s",
                    self._pool_name,
                    now - loan.since,
                    self.leak_timeout,
                    loan.thread.name,
                    _format(loan.stack),
                )

    def _reclaim(self, loan: _Loan, now: float) -> None:
        self.reclaimed += 1
        logger.warning(
            "Reclaimed a connection of pool %r: thread %r ended without giving it back "
            "(held for %.1f s). It was discarded, not reused. It was checked out at:\n%s",
            self._pool_name,
            loan.thread.name,
            now - loan.since,
            _format(loan.stack),
        )
        self._reclaimed.add(loan.conn)
        try:
            self._discard(loan.conn)
        except Exception:
            logger.exception("Could not discard a reclaimed connection of %r", self._pool_name)


def _format(stack: traceback.StackSummary) -> str:
    for frame in stack:
        frame.line  # noqa: B018 - looks the source line up, now that it is needed
    return "".join(stack.format()).rstrip()


class _Monitor:
    """The one thread per process that scans every LeakWatch."""

    def __init__(self) -> None:
        self._watches: weakref.WeakSet[LeakWatch] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, watch: LeakWatch) -> None:
        with self._lock:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="django-multipool-leak-watch", daemon=True
                )
                self._thread.start()

    def remove(self, watch: LeakWatch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._lock:
                watches = list(self._watches)
                if not watches:
                    self._thread = None
                    return
            period = min(w.period for w in watches)
            del watches  # a watch of a pool that is gone must be free to go too
            time.sleep(period)
            with self._lock:
                watches = list(self._watches)
            now = monotonic()
            for watch in watches:
                try:
                    watch.scan(now)
                except Exception:  # never let one pool's trouble stop the others' watch
                    logger.exception("Leak watch of %r failed", watch._pool_name)
            del watches

    def forget_after_fork(self) -> None:
        # The parent's threads look dead in the child: scanning its loans
        # would "reclaim", that is close, the parent's connections.
        self._watches = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread = None


_monitor = _Monitor()
os.register_at_fork(after_in_child=_monitor.forget_after_fork)
