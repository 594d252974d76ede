"""Who holds which connection: the lending ledger every adapter keeps.

One :class:`Ledger` per pool adapter records each loan: the connection
(held strongly, so that its ``id()`` cannot be reused while the loan lasts),
when it was lent, its borrower (weakly) and the borrowing thread. The policy
that follows from those records is the same on every vendor, so it lives
here and not in the adapters:

- A connection given back twice, or one this pool never lent, is refused
  (:class:`NotLent`) before it reaches the driver's pool.
- Usage time and loan counts are exact under threads.
- **A dropped borrower.** A loan whose borrower was garbage-collected (a
  thread that ran a query and ended without ``close()``, a request context
  thrown away) can never be given back. The janitor
  (:mod:`django_multipool._janitor`) finds it, and the adapter closes the
  connection, never reusing it: its session may hold an open transaction or
  any other state. The pool opens a replacement when one is needed.
  Counted in ``leaks_reclaimed`` and logged at WARNING.
- **leak_timeout.** A loan held longer is reported once, with the stack that
  took it (``leaks_detected``); it stays with its borrower, which may be a
  long report, not a bug. With it, a loan is also reclaimed once the thread
  that borrowed it has ended, even if its borrower object lives on (a
  wrapper shared with a thread that finished without ``close()``).

Nothing here takes a lock in a weakref callback or a finaliser: borrowers
are watched by plain weak references that the janitor reads.
"""

from __future__ import annotations

import gc
import logging
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .timings import Timings

__all__ = ["Ledger", "Loan", "NotLent"]

logger = logging.getLogger("django_multipool.leaks")

# A full collection costs tens of milliseconds on a large heap, all of it
# holding the GIL: the janitor runs one at most this often, and callers about
# to time out (many at once, when a pool is exhausted) at most this often.
_COLLECT_EVERY = 2.0
_COLLECT_AT_DEADLINE_EVERY = 0.25
# Returns whose usage is not yet added up; the janitor adds them every sweep.
_FOLD_AT = 4096
_last_collect = [0.0]
_collect_lock = threading.Lock()


class NotLent(ValueError):
    """A connection given back that this pool does not have on loan."""


class Loan:
    """One connection lent by one pool."""

    __slots__ = ("conn", "owner", "probed", "since", "stack", "thread", "warned")

    def __init__(
        self,
        conn: Any,
        owner: weakref.ref[Any] | None,
        since: float,
        stack: traceback.StackSummary | None,
    ) -> None:
        self.conn = conn
        #: The borrower (a Django DatabaseWrapper), weakly; None when the
        #: adapter API was called directly.
        self.owner = owner
        self.since = since
        self.thread = threading.current_thread()
        #: The checkout's stack, only with leak_timeout (source lines are
        #: looked up when warning).
        self.stack = stack
        #: Whether a garbage collection already ran after its thread ended.
        self.probed = False
        self.warned = False

    def borrower_gone(self, leak_timeout: float | None) -> bool:
        owner = self.owner
        if owner is not None and owner() is None:
            return True
        # leak_timeout's stricter rule: the thread that borrowed it ended.
        return leak_timeout is not None and not self.thread.is_alive()


class Ledger:
    """The loans of one pool. Thread-safe; see the module docstring."""

    def __init__(
        self, name: str, *, leak_timeout: float | None, reclaim: Callable[[Any], None]
    ) -> None:
        """``reclaim(conn)`` closes a reclaimed connection (I/O; the janitor calls it)."""
        self.name = name
        self.leak_timeout = leak_timeout
        self._reclaim_conn = reclaim
        self._loans: dict[int, Loan] = {}
        # Usage is a float sum, and += from several threads could lose an
        # update: each return appends its share (atomic), folded under a lock
        # by whoever reads the sum (stats, the janitor) or past _FOLD_AT.
        self._lock = threading.Lock()
        self._usage_s = 0.0
        self._held: deque[float] = deque()
        self.detected = 0
        self.reclaimed = 0
        #: Per-event durations, when a recorder asked (PoolAdapter.record_timings).
        self.timings: Timings | None = None
        # Reclaimed connections that somebody may still try to give back (a
        # loan of the adapter API handed to another thread): ignored then.
        self._reclaimed: weakref.WeakSet[Any] = weakref.WeakSet()

    def __len__(self) -> int:
        return len(self._loans)

    # -- the hot path ----------------------------------------------------------------

    def lend(self, conn: Any, owner: Any = None, now: float | None = None) -> None:
        """Record ``conn`` as lent to ``owner`` (watched weakly), from ``now``."""
        stack = None
        if self.leak_timeout is not None:
            frame = traceback.walk_stack(None)
            stack = traceback.StackSummary.extract(frame, lookup_lines=False)
            stack.reverse()  # oldest call first, as tracebacks read
        # weakref.ref() without a callback reuses the object's existing one.
        self._loans[id(conn)] = Loan(
            conn,
            None if owner is None else weakref.ref(owner),
            monotonic() if now is None else now,
            stack,
        )

    def end(self, conn: Any, now: float | None = None) -> bool:
        """End ``conn``'s loan; False if the janitor already took it back.

        Raise :class:`NotLent` if this pool does not have it on loan.
        """
        # Keyed by id(): the loan holds its connection, so no other object
        # can have that id while the entry exists.
        loan = self._loans.pop(id(conn), None)
        if loan is None:
            if conn in self._reclaimed:
                return False
            raise NotLent(
                f"can't give connection {conn!r} back to pool {self.name!r}: it is not lent "
                f"(given back twice, or lent by another pool)"
            )
        held = self._held
        held.append((monotonic() if now is None else now) - loan.since)
        if len(held) > _FOLD_AT:
            self.fold_usage()
        return True

    @property
    def usage_s(self) -> float:
        """Seconds connections were held by their borrowers, in all."""
        self.fold_usage()
        return self._usage_s

    def fold_usage(self) -> None:
        """Add the returns' shares to the total (the janitor, every sweep)."""
        timings = self.timings
        with self._lock:
            held = self._held
            total = self._usage_s
            while held:
                share = held.popleft()
                total += share
                if timings is not None:
                    timings.uses.append(share)
            self._usage_s = total

    # -- the janitor's side ------------------------------------------------------------

    def waiting_for_collection(self) -> list[Loan]:
        """Loans whose thread ended while their borrower object is still alive.

        Django's wrappers are reference cycles, freed by the cyclic
        collector, which may not run for minutes on its own: the janitor runs
        one for these (once per loan), then looks again.
        """
        return [
            loan
            for loan in list(self._loans.values())
            if loan.owner is not None and not loan.probed and not loan.thread.is_alive()
        ]

    def scan(self, now: float) -> None:
        """Reclaim loans whose borrower is gone; warn about loans past leak_timeout."""
        leak_timeout = self.leak_timeout
        for key, loan in list(self._loans.items()):
            if loan.borrower_gone(leak_timeout):
                # pop() decides between us and a release racing us.
                if self._loans.get(key) is loan and self._loans.pop(key, None) is loan:
                    self._reclaim(loan, now)
            elif leak_timeout is not None and not loan.warned and now - loan.since >= leak_timeout:
                loan.warned = True
                with self._lock:
                    self.detected += 1
                logger.warning(
                    "Connection of pool %r held for %.1f s (leak_timeout is %g s) by thread "
                    "%r. It was checked out at:\n%s",
                    self.name,
                    now - loan.since,
                    leak_timeout,
                    loan.thread.name,
                    _format(loan.stack),
                )

    def reclaim_dropped(self, *, collect: bool) -> int:
        """Reclaim what dropped borrowers hold now, after a collection if ``collect``.

        For an acquire about to time out: at the latest then, a slot held by
        a borrower that no longer exists comes back. Returns how many.
        """
        if collect and any(loan.owner is not None for loan in list(self._loans.values())):
            collect_garbage(every=_COLLECT_AT_DEADLINE_EVERY)
        before = self.reclaimed
        self.scan(monotonic())
        return self.reclaimed - before

    def _reclaim(self, loan: Loan, now: float) -> None:
        with self._lock:  # the janitor, or a caller about to time out
            self.reclaimed += 1
        self._held.append(now - loan.since)
        thread = loan.thread
        why = (
            f"thread {thread.name!r} ended without giving it back"
            if not thread.is_alive()
            else f"its borrower was garbage-collected without giving it back (thread "
            f"{thread.name!r} is still running)"
        )
        where = f" It was checked out at:\n{_format(loan.stack)}" if loan.stack else ""
        logger.warning(
            "Reclaimed a connection of pool %r: %s (held for %.1f s). It was closed, not "
            "reused; the pool opens another when needed.%s",
            self.name,
            why,
            now - loan.since,
            where,
        )
        self._reclaimed.add(loan.conn)
        try:
            self._reclaim_conn(loan.conn)
        except Exception:
            logger.exception("Could not close a reclaimed connection of pool %r", self.name)

    def forget_after_fork(self) -> None:
        """In a forked child: the loans are the parent's; never reclaim them here."""
        self._loans = {}
        self._lock = threading.Lock()
        self._held = deque()


def collect_garbage(*, every: float = _COLLECT_EVERY) -> bool:
    """Run a full collection unless one ran less than ``every`` seconds ago."""
    now = monotonic()
    with _collect_lock:
        if now - _last_collect[0] < every:
            return False
        _last_collect[0] = now
    gc.collect()
    return True


def _format(stack: traceback.StackSummary | None) -> str:
    if not stack:
        return "  (unknown: the stack is recorded with leak_timeout)"
    for frame in stack:
        frame.line  # noqa: B018 - looks the source line up, now that it is needed
    return "".join(stack.format()).rstrip()
