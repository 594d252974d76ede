"""A blocking, thread-safe connection pool for drivers whose own pool falls short.

Drivers hand this core their connection-level operations (:class:`Driver`);
the core does the pooling the shared schema describes, with no Django and no
driver imports:

- ``acquire`` takes the most recently returned idle connection (LIFO, so
  connections at the bottom of the stack age out and ``max_idle`` can shrink
  the pool); when none is idle it queues the caller (FIFO, up to
  ``max_waiting``) until ``timeout``, then raises :class:`PoolTimeout`.
- New connections are opened by the pool's background workers
  (:data:`WORKERS` of them, so that a burst is met by attempts in parallel,
  as psycopg_pool's workers do), never by an acquiring thread and never
  while the pool lock is held: a waiter takes whichever comes first, a
  returned connection or a new one (HikariCP's "prime directive", also
  psycopg_pool's design).
- The lock guards lists and counters only. Connect, close, ping and reset all
  run outside it, so one slow or dead server stalls nobody who does not need
  a new connection.
- A server that refuses (down, unknown host, login refused: the driver's
  :meth:`Driver.refusal` says which) fails the callers waiting for a new
  connection with :class:`ConnectRefused` after that attempt, not after
  ``timeout``. A caller is only ever failed by an attempt that started after
  it asked; while the server refuses, the worker tries again
  ``_RETRY_FIRST`` after the last refusal for whoever waits, instead of
  backing off further, so the first request after the server is back gets
  a connection.
- None of them waits for ever on a stalled server: the check's ping gets
  what is left of the acquire's ``timeout``, the driver bounds its reset and
  its connect (:mod:`django_multipool._watchdog`); a connection that does not
  answer in time is closed and replaced.
- ``max_lifetime`` (with the jitter of :mod:`~django_multipool.policy`)
  retires connections when they come back or while idle, never while in use;
  ``max_idle`` closes idle connections above ``min_size``; ``check=N`` pings
  only connections idle for N s or more.
- A lent connection stays referenced by its slot until it comes back, so its
  ``id()`` is never another connection's while the loan lasts; a borrower
  that disappears with it is the adapter's ledger's to notice
  (:mod:`django_multipool.ledger`), which discards the connection.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Sequence
from time import monotonic, sleep
from typing import Any, Generic, Protocol, TypeVar

from ._redact import redact
from ._watchdog import bounded, left_until
from .adapter import Counters, PoolStats
from .config import PoolConfig
from .errors import ConnectRefused, PoolClosed, TooManyRequests
from .parking import ParkingLot
from .policy import check_after, expires_at, timed_out

__all__ = ["Driver", "Pool"]

logger = logging.getLogger("django_multipool")

Conn = TypeVar("Conn")

# Backoff between failed connection attempts while somebody needs one.
_RETRY_FIRST = 0.5
_RETRY_MAX = 10.0
# A worker wakes at least this often, to retire idle connections on time.
_MAX_NAP = 1.0

#: Background workers per pool: how many connection attempts may run at
#: once (psycopg_pool's default number of workers too). Connecting is mostly
#: waiting on the network and the server's authentication, so a burst grows
#: the pool that many times faster; more would mostly add threads.
WORKERS = 3


class Driver(Protocol[Conn]):
    """What the pool needs from a driver, one connection at a time."""

    def connect(self) -> Conn:
        """Open a connection ready for a borrower (per-connection setup done)."""

    def refusal(self, exc: BaseException) -> str | None:
        """The cause if ``exc``, raised by :meth:`connect`, says the server refused.

        One of the causes in :mod:`django_multipool.errors`: an answer that
        another attempt would get again at once. None for anything slow or
        transient (a timeout, "too many connections"): those callers wait.
        """

    def close(self, conn: Conn) -> None:
        """Close politely; must not raise."""

    def ping(self, conn: Conn) -> None:
        """One round trip; raise if the connection is unusable."""

    def is_broken(self, conn: Conn) -> bool:
        """True if the connection is known to be unusable. No round trip."""

    def needs_reset(self, conn: Conn) -> bool:
        """True if :meth:`reset` would do anything to ``conn``. No I/O."""

    def reset(self, conn: Conn) -> None:
        """Make a returned connection fit for the next borrower; raise to discard it.

        Round trips here must be bounded (``bounded()`` of _watchdog, armed
        only when there is one: this is on every release's path).
        """

    def abandon(self, conn: Conn) -> None:
        """In a forked child: let go of a parent's connection without any I/O."""

    def interrupt(self, conn: Conn) -> None:
        """From another thread: make a round trip in progress on ``conn`` fail now.

        Shut its socket down, not close it. Must not block: the watchdog
        calls it when a round trip of the pool's own overran.
        """


class _Slot(Generic[Conn]):
    """One physical connection and its timestamps."""

    __slots__ = ("conn", "expires_at", "idle_since")

    def __init__(self, conn: Conn, now: float, lifetime: float | None) -> None:
        self.conn: Conn | None = conn
        self.idle_since = now
        self.expires_at = expires_at(now, lifetime)


class _Waiter:
    __slots__ = ("closed", "event", "queued_at", "refused", "slot")

    def __init__(self, queued_at: float) -> None:
        self.event = threading.Event()
        self.slot: _Slot[Any] | None = None
        self.closed = False
        self.queued_at = queued_at
        #: (cause, the driver's error) of a refused attempt that began after it queued.
        self.refused: tuple[str, BaseException] | None = None


class Pool(Generic[Conn]):
    """The pool. ``driver`` does the I/O; ``config`` says how much and how long."""

    def __init__(
        self,
        driver: Driver[Conn],
        config: PoolConfig,
        *,
        name: str,
        secrets: Sequence[str] = (),
    ) -> None:
        """``secrets`` (passwords) are blanked out of driver errors the pool quotes."""
        self._driver = driver
        self.config = config
        self.name = name
        self._check_after = check_after(config)

        self._lock = threading.Lock()
        self._worker_wakeup = threading.Condition(self._lock)
        self._idle: list[_Slot[Conn]] = []  # a stack: the end is the most recent
        self._in_use: dict[int, _Slot[Conn]] = {}
        # Lent connections parked between their borrower's statements (see
        # park()), by spot; still in _in_use. Taken under the lock by _take(),
        # and without it by their borrower's retake(): dict.pop() decides.
        self._parked: ParkingLot[_Slot[Conn]] = ParkingLot()
        self._waiters: deque[_Waiter] = deque()
        self._opening = 0
        self._size = 0  # idle + in use + being opened
        self._closed = False
        self._opened = False
        self._workers: list[threading.Thread] = []
        self._retry_at = 0.0
        self._retry_delay = _RETRY_FIRST
        self._last_connect_error: BaseException | None = None
        self._failed_attempts = 0  # since the last successful connect
        self._failed_at = 0.0  # when the last attempt failed
        # The cause when the last attempt was refused (see Driver.refusal), and when.
        self._refusal: str | None = None
        self._refused_at = 0.0
        self._secrets = list(secrets)
        # After fork: the parent's connections, kept so no finaliser runs on them.
        self._inherited: list[Any] = []

        self._counts = Counters()
        #: Called with each new connection's open-and-set-up time (PoolAdapter.record_timings).
        self.on_connected: Callable[[float], None] | None = None

    # -- life cycle ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def parked(self) -> int:
        """Lent connections parked at a borrower's spot; available to others."""
        return len(self._parked)

    def open(self, wait: bool = False, timeout: float | None = None) -> None:
        """Start the worker that opens ``min_size`` connections in the background.

        With ``wait``, block until they exist; raise :class:`PoolTimeout` after
        ``timeout`` (default: the config's) if they do not.
        """
        with self._lock:
            if self._closed:
                raise PoolClosed(f"pool {self.name!r} is closed")
            if not self._opened:
                self._opened = True
                self._workers = [
                    threading.Thread(
                        target=self._work, name=f"multipool-{self.name}-{n}", daemon=True
                    )
                    for n in range(1, WORKERS + 1)
                ]
                for worker in self._workers:
                    worker.start()
        if wait:
            limit = self.config.timeout if timeout is None else timeout
            deadline = monotonic() + limit
            # Polled, not signalled: the workers' condition is theirs alone,
            # so that notify() always reaches a worker.
            while self._size - self._opening < self.config.min_size:
                if monotonic() >= deadline or self._closed:
                    raise timed_out(
                        self.name,
                        self.config,
                        limit,
                        waiting=0,
                        in_use=0,
                        connect_errors=self._failed_attempts,
                        connect_error=self._connect_error_text(),
                    ) from self._last_connect_error
                sleep(0.01)

    def close(self, timeout: float = 5.0) -> None:
        """Refuse new requests, close idle connections; lent ones close on return."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            while self._parked and (slot := self._parked.take_longest()) is not None:
                self._end_parked_loan_locked(slot)
                idle.append(slot)
            self._size -= len(idle)
            waiters, self._waiters = list(self._waiters), deque()
            for waiter in waiters:
                waiter.closed = True
                waiter.event.set()
            self._worker_wakeup.notify_all()
            workers = self._workers
        for slot in idle:
            self._close_conn(slot)
        deadline = monotonic() + timeout
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join(max(0.0, deadline - monotonic()))

    def forget_after_fork(self) -> None:
        """In a forked child: drop every connection without talking to the server.

        The parent's lock may have been held by a thread that does not exist
        here, so it is replaced; the workers did not survive the fork.
        """
        self._lock = threading.Lock()
        self._worker_wakeup = threading.Condition(self._lock)
        self._closed = True
        self._workers = []
        self._waiters = deque()
        lent = [slot.conn for slot in self._in_use.values()]
        for conn in [slot.conn for slot in self._idle] + lent:
            if conn is not None:
                self._driver.abandon(conn)
        self._inherited = [slot.conn for slot in self._idle] + lent
        self._idle = []
        self._in_use = {}
        self._parked = ParkingLot()  # their connections are among the lent ones above
        self._size = 0

    # -- borrowing ------------------------------------------------------------------

    def acquire(self, timeout: float | None = None) -> Conn:
        """Lend a connection, waiting up to ``timeout`` seconds for one."""
        wait = self.config.timeout if timeout is None else timeout
        deadline = monotonic() + wait
        counted = False
        while True:
            slot = self._take(deadline, wait, count=not counted)
            counted = True
            conn = slot.conn
            assert conn is not None
            if self._needs_check(slot, monotonic()) and not self._passes_check(
                slot, conn, deadline
            ):
                continue
            return conn

    def release(self, conn: Conn) -> None:
        """Take a connection back: reset it, then lend it again or retire it."""
        with self._lock:
            slot = self._in_use.pop(id(conn), None)
        if slot is None:
            raise ValueError(f"{conn!r} was not lent by pool {self.name!r}")
        if self._closed:
            self._retire(slot)
            return
        if self._driver.is_broken(conn):
            logger.warning(
                "pool %r: a connection came back broken (the server closed it?); "
                "closing it, a replacement opens when needed",
                self.name,
            )
            self._retire(slot, lost=True)
            return
        try:
            self._driver.reset(conn)
        except Exception:
            logger.warning(
                "pool %r: resetting a returned connection failed", self.name, exc_info=True
            )
            self._retire(slot, lost=True)
            return
        now = monotonic()
        if now >= slot.expires_at:
            self._retire(slot)
            return
        slot.idle_since = now
        with self._lock:
            if not self._closed:
                self._put_locked(slot)
                return
        self._retire(slot)

    def park(self, spot: Any, conn: Conn, now: float) -> bool:
        """Keep a lent connection at ``spot``, available to others; False if it cannot be.

        It can if returning it would send nothing (no reset to run), it is
        not past ``max_lifetime``, and nobody waits (a waiter is served by
        :meth:`release` at once). No I/O: unlike a release, no broken-socket
        test either; that is the borrower's (after an error it releases).
        """
        slot = self._in_use.get(id(conn))
        if slot is None:
            raise ValueError(f"{conn!r} was not lent by pool {self.name!r}")
        if now >= slot.expires_at or self._driver.needs_reset(conn):
            return False
        with self._lock:
            if self._closed or self._waiters:
                return False
            slot.conn = conn
            slot.idle_since = now
            self._parked[spot] = slot
        return True

    def retake(self, spot: Any, now: float) -> Conn | None:
        """The connection parked at ``spot``, lent again; None if taken, retired or failed."""
        slot = self._parked.pop(spot, None)
        if slot is None:
            return None
        conn = slot.conn
        assert conn is not None
        if self._closed or now >= slot.expires_at:
            self.release(conn)  # retires it
            return None
        if self._needs_check(slot, now) and not self._passes_check(
            slot, conn, now + self.config.timeout
        ):
            return None
        return conn

    def release_parked(self, spot: Any) -> None:
        """Put the connection parked at ``spot`` through :meth:`release`."""
        slot = self._parked.pop(spot, None)
        if slot is not None and slot.conn is not None:
            self.release(slot.conn)

    def discard(self, conn: Conn) -> None:
        """Close a lent connection known to be broken; a replacement opens if needed."""
        with self._lock:
            slot = self._in_use.pop(id(conn), None)
        if slot is None:
            raise ValueError(f"{conn!r} was not lent by pool {self.name!r}")
        self._retire(slot, lost=True)

    def stats(self, usage_ms: int = 0) -> PoolStats:
        with self._lock:
            return self._counts.stats(
                self.config,
                size=self._size,
                available=len(self._idle) + self.parked,
                waiting=len(self._waiters),
                usage_ms=usage_ms,
            )

    # -- internals: lending ----------------------------------------------------------

    def _take(self, deadline: float, wait: float, *, count: bool) -> _Slot[Conn]:
        """An idle slot, registered as lent; waits (outside the lock) if none is idle."""
        retired: list[_Slot[Conn]] = []
        waiter = None
        try:
            with self._lock:
                if self._closed:
                    raise PoolClosed(f"pool {self.name!r} is closed")
                if count:
                    self._counts.requests_num += 1
                now = monotonic()
                while self._idle:
                    slot = self._idle.pop()
                    if now < slot.expires_at:
                        self._lend_locked(slot)
                        return slot
                    self._size -= 1  # expired while idle: retired below, outside the lock
                    retired.append(slot)
                while self._parked and (parked := self._parked.take_longest()) is not None:
                    if now < parked.expires_at:
                        return parked  # registered as lent since its borrower took it
                    self._end_parked_loan_locked(parked)
                    self._size -= 1
                    retired.append(parked)
                if self.config.max_waiting and len(self._waiters) >= self.config.max_waiting:
                    self._counts.requests_errors += 1
                    raise TooManyRequests.queue_full(
                        self.name, self.config.max_size, len(self._waiters)
                    )
                waiter = _Waiter(now)
                self._waiters.append(waiter)
                self._counts.requests_queued += 1
                if self._size < self.config.max_size:
                    # Only a pool that may grow has work for a worker: at
                    # max_size a waiter is served by the next return, and
                    # waking a worker per waiter would cost every queued
                    # checkout a thread switch for nothing.
                    self._worker_wakeup.notify()
        finally:
            for slot in retired:
                self._close_conn(slot)
            if retired:
                self._wake_worker()
        return self._wait(waiter, deadline, wait)

    def _wait(self, waiter: _Waiter, deadline: float, wait: float) -> _Slot[Conn]:
        started = monotonic()
        waiter.event.wait(max(0.0, deadline - started))
        with self._lock:
            self._counts.requests_wait_s += monotonic() - started
            if waiter.slot is not None:  # handed over, maybe just as the wait ended
                return waiter.slot
            if waiter.closed:
                raise PoolClosed(f"pool {self.name!r} is closed")
            refused = waiter.refused
            if refused is None:  # _open_one() took the refused ones off the queue
                self._waiters.remove(waiter)
            self._counts.requests_errors += 1
            waiting = len(self._waiters)
            in_use = len(self._in_use)
            failed = self._failed_attempts
            connecting = self._opening
        if refused is not None:
            cause, exc = refused
            refusal = ConnectRefused.after_attempt(self.name, cause, self._error_text(exc), wait)
            logger.warning("%s", refusal)
            raise refusal from exc
        error = timed_out(
            self.name,
            self.config,
            wait,
            waiting=waiting,
            in_use=in_use,
            connect_errors=failed,
            connect_error=self._connect_error_text(),
            connecting=connecting,
        )
        logger.warning("%s", error)
        raise error from self._last_connect_error

    def _connect_error_text(self) -> str | None:
        exc = self._last_connect_error
        return None if exc is None else self._error_text(exc)

    def _error_text(self, exc: BaseException) -> str:
        # The driver's own words, as the warning logged at the failure has
        # them (no driver here puts the password in a connect error;
        # tests/reliability/test_secrets.py holds them to that), and without
        # the password should one ever do.
        return redact(str(exc).strip(), self._secrets) or type(exc).__name__

    def _lend_locked(self, slot: _Slot[Conn]) -> None:
        self._in_use[id(slot.conn)] = slot

    def _put_locked(self, slot: _Slot[Conn]) -> None:
        """Hand a ready connection to the longest waiter, else make it idle."""
        if self._waiters:
            waiter = self._waiters.popleft()
            self._lend_locked(slot)
            waiter.slot = slot
            waiter.event.set()
        else:
            self._idle.append(slot)

    def _end_parked_loan_locked(self, slot: _Slot[Conn]) -> None:
        """A parked connection, taken from its spot to be closed, is lent no more."""
        self._in_use.pop(id(slot.conn), None)

    def _needs_check(self, slot: _Slot[Conn], now: float) -> bool:
        return now - slot.idle_since >= self._check_after

    def _passes_check(self, slot: _Slot[Conn], conn: Conn, deadline: float) -> bool:
        # A stalled server must not keep the caller past its acquire deadline.
        limit = left_until(deadline)
        try:
            with bounded(limit, functools.partial(self._driver.interrupt, conn), "the check"):
                self._driver.ping(conn)
        except Exception as exc:
            logger.warning(
                "pool %r: a connection failed its check (%s); replacing it", self.name, exc
            )
            with self._lock:
                self._in_use.pop(id(conn), None)
            self._retire(slot, lost=True)
            return False
        return True

    def _retire(self, slot: _Slot[Conn], *, lost: bool = False) -> None:
        """Close a connection that left the pool's lists; a replacement opens if needed."""
        with self._lock:
            self._size -= 1
            if lost:
                self._counts.connections_lost += 1
            self._worker_wakeup.notify()
        self._close_conn(slot)

    def _close_conn(self, slot: _Slot[Conn]) -> None:
        conn, slot.conn = slot.conn, None
        if conn is not None:
            self._driver.close(conn)

    def _wake_worker(self) -> None:
        with self._lock:
            self._worker_wakeup.notify()

    # -- internals: the worker ------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                now = monotonic()
                doomed = self._take_doomed_locked(now)
                must_open = not doomed and self._should_open_locked(now)
                if must_open:
                    self._opening += 1
                    self._size += 1
                elif not doomed:
                    self._worker_wakeup.wait(self._nap_locked(now))
                    continue
            for slot in doomed:
                self._close_conn(slot)
            if must_open:
                self._open_one()

    def _should_open_locked(self, now: float) -> bool:
        if self._size >= self.config.max_size or now < self._next_attempt_at_locked():
            return False
        if self._opening and self._failed_attempts:
            # Attempts in parallel only while connecting works: a server that
            # fails them gets one at a time, at the backoff's pace.
            return False
        return self._size < self.config.min_size or len(self._waiters) > self._opening

    def _next_attempt_at_locked(self) -> float:
        """When the worker may connect again after a failed attempt."""
        if self._refusal is not None and self._waiters:
            # Whoever asked after a refusal gets the answer of a new attempt
            # soon, not of the backoff (seconds, rate-limited by its first step).
            return min(self._retry_at, self._refused_at + _RETRY_FIRST)
        return self._retry_at

    def _take_doomed_locked(self, now: float) -> list[_Slot[Conn]]:
        """Idle connections past max_lifetime, or past max_idle above min_size."""
        max_idle = self.config.max_idle
        keep: list[_Slot[Conn]] = []
        doomed: list[_Slot[Conn]] = []
        # Bottom of the stack first: the least recently used go first.
        for slot in self._idle:
            surplus = self._size - len(doomed) > self.config.min_size
            if now >= slot.expires_at or (
                surplus and max_idle is not None and now - slot.idle_since >= max_idle
            ):
                doomed.append(slot)
            else:
                keep.append(slot)
        if doomed:
            self._idle = keep
            self._size -= len(doomed)
        return doomed

    def _nap_locked(self, now: float) -> float:
        wake = now + _MAX_NAP
        retry_at = self._next_attempt_at_locked()
        if retry_at > now and (self._waiters or self._size < self.config.min_size):
            wake = min(wake, retry_at)
        for slot in self._idle:
            wake = min(wake, slot.expires_at)
            if self.config.max_idle is not None and self._size > self.config.min_size:
                wake = min(wake, slot.idle_since + self.config.max_idle)
        return max(0.001, wake - now)

    def _open_one(self) -> None:
        started = monotonic()
        try:
            conn = self._driver.connect()
        except Exception as exc:
            cause = self._driver.refusal(exc)
            with self._lock:
                self._opening -= 1
                self._size -= 1
                self._counts.connections_errors += 1
                self._last_connect_error = exc
                self._failed_attempts += 1
                now = monotonic()
                if self._failed_at < started:
                    delay = self._retry_delay * random.uniform(0.9, 1.1)
                    self._retry_at = now + delay
                    self._retry_delay = min(self._retry_delay * 2, _RETRY_MAX)
                else:
                    # Another attempt made in parallel failed since this one
                    # began: one backoff step for them all, not one each.
                    delay = max(0.0, self._retry_at - now)
                self._failed_at = now
                self._refusal, self._refused_at = cause, now
                if cause is not None:
                    self._fail_waiters_locked(started, (cause, exc))
            logger.warning(
                "pool %r: opening a connection failed, retrying in %.1f s: %s",
                self.name,
                delay,
                exc,
            )
            return
        slot = _Slot(conn, monotonic(), self.config.max_lifetime)
        if self.on_connected is not None:
            self.on_connected(slot.idle_since - started)
        with self._lock:
            self._opening -= 1
            self._counts.connections_num += 1
            self._retry_delay = _RETRY_FIRST
            self._retry_at = 0.0
            self._last_connect_error = None
            self._failed_attempts = 0
            self._refusal = None
            if not self._closed:
                self._put_locked(slot)
                return
            self._size -= 1
        self._close_conn(slot)

    def _fail_waiters_locked(self, since: float, refused: tuple[str, BaseException]) -> None:
        """Tell those who queued before ``since`` that the server refused."""
        while self._waiters and self._waiters[0].queued_at <= since:
            waiter = self._waiters.popleft()  # FIFO: the earliest are at the left
            waiter.refused = refused
            waiter.event.set()
