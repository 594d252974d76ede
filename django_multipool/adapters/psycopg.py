"""PostgreSQL through ``psycopg_pool.ConnectionPool``.

What psycopg_pool already does the way the shared schema means it, it does:
sizes, the acquire deadline, the wait queue, lifetime (checked on return,
never while in use), idle shrinking, growth in worker threads. This module
adds the rest:

- ``check=N`` validates only connections idle for N seconds or more, in our
  acquire rather than through psycopg_pool's ``check`` callback (whose
  machinery runs on every checkout): the fast path is an attribute read and
  a comparison, no round trip. A connection that fails is replaced and the
  caller gets the next one within the same deadline.
- ``reset="session"`` runs ``DISCARD ALL`` on return (temp tables, ``SET``,
  prepared statements, advisory locks, ``LISTEN``) and re-applies the
  per-connection setup (time zone, role) that ``DISCARD ALL`` undid.
- No round trip of the pool's own waits for ever on a stalled server: the
  check gets what is left of the acquire's deadline; the rollback of a
  connection returned inside a transaction (done here, not in psycopg_pool's
  ``putconn()``) and ``DISCARD ALL`` get ``timeout``
  (:mod:`django_multipool._watchdog`); connecting gets ``timeout`` (at least
  2 s) unless the settings give a ``connect_timeout``.
- A server that refuses (down, unknown host, login refused: :func:`refusal`)
  fails the clients waiting for a new connection with ``ConnectRefused``
  after that attempt, instead of letting them wait ``timeout``; while it
  refuses, a client that queues brings psycopg_pool's next retry forward
  (to half a second after the last refusal, not its backoff of up to
  minutes), so the first request after the server is back gets a connection.
- Errors become :mod:`django_multipool.errors`; stats get the shared keys.
"""

from __future__ import annotations

# First: a psycopg_pool release without a name used here fails with the fix.
from . import _psycopg_privates  # noqa: F401  # isort: skip

import functools
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from time import monotonic
from typing import Any, ClassVar

import psycopg
import psycopg_pool
from psycopg_pool.pool import AddConnection, MaintenanceTask, WaitingClient

from .._janitor import _deferred, run_deferred
from .._redact import redact
from .._watchdog import NoAnswer, bounded, left_until, shut_down_socket
from ..adapter import PoolAdapter, PoolStats
from ..config import CONNECT_ARGUMENTS_COME_FROM_DATABASES, POOLS_OPEN_AT_FIRST_USE
from ..errors import (
    AUTHENTICATION_FAILED,
    CONNECTION_REFUSED,
    UNKNOWN_HOST,
    ConnectRefused,
    PoolClosed,
    PoolTimeout,
    TooManyRequests,
)
from ..parking import ParkingLot, ParkingSpot
from ..policy import SETUP_LEFT_A_TRANSACTION, check_after, timed_out

__all__ = ["PsycopgPoolAdapter", "refusal"]

logger = logging.getLogger("django_multipool")

# psycopg_pool schedules shrinking with a timer; an infinite delay overflows
# threading's wait, so "never" becomes a century.
_NEVER = 100 * 365 * 24 * 3600.0

# Guards connections_opened; taken once per connection opened, not per checkout.
_COUNTING = threading.Lock()
_OPEN_TRANSACTION = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)

# How soon after a refused attempt a client that queues gets a new one: the
# first step of the core's backoff (django_multipool._pool), on every vendor.
_REFUSED_RETRY = 0.5

# What libpq and psycopg say (in English: libpq's own messages follow the C
# locale Python leaves LC_MESSAGES in; the server's follow its lc_messages)
# when the server refused. psycopg gives no SQLSTATE for a failed connection,
# so 28P01/28000 (invalid password / authorization) cannot be read off it.
_REFUSAL_TEXTS = (
    ("Connection refused", CONNECTION_REFUSED),
    ("could not translate host name", UNKNOWN_HOST),  # libpq resolving
    ("Name or service not known", UNKNOWN_HOST),  # psycopg resolving, glibc
    ("nodename nor servname provided", UNKNOWN_HOST),  # psycopg resolving, BSD libc
    ("password authentication failed", AUTHENTICATION_FAILED),
    ("authentication failed for user", AUTHENTICATION_FAILED),  # ident, peer, LDAP...
    ("no pg_hba.conf entry", AUTHENTICATION_FAILED),
    ("pg_hba.conf rejects connection", AUTHENTICATION_FAILED),
    ("fe_sendauth: no password supplied", AUTHENTICATION_FAILED),
)
# FATAL:  role "x" does not exist (28000). A database that does not exist is
# not a refusal: a migration or restore may be about to create it.
_NO_SUCH_ROLE = re.compile(r'role ".*" does not exist')


def refusal(exc: BaseException) -> str | None:
    """The cause if a connect error of psycopg says the server refused."""
    if not isinstance(exc, psycopg.OperationalError) or isinstance(
        exc, psycopg.errors.ConnectionTimeout
    ):
        return None
    if exc.sqlstate in ("28P01", "28000"):  # should psycopg ever give one
        return AUTHENTICATION_FAILED
    text = str(exc)
    for words, cause in _REFUSAL_TEXTS:
        if words in text:
            return cause
    return AUTHENTICATION_FAILED if _NO_SUCH_ROLE.search(text) else None


class _Refused(psycopg.OperationalError):
    """Raised to a waiting client: the attempt made since it queued was refused.

    Not a psycopg_pool PoolTimeout, which getconn() would replace with its own.
    """

    def __init__(self, cause: str, error: BaseException) -> None:
        super().__init__(cause)
        self.cause = cause
        self.error = error


# Siblings, not subclasses of each other: each must be named.
_POOL_ERRORS = (
    psycopg_pool.PoolTimeout,
    psycopg_pool.TooManyRequests,
    psycopg_pool.PoolClosed,
    _Refused,
)

# Every connection the pool opens carries ``_multipool_idle_since``, the
# clock reading of its last return to the pool (or of its opening: check=N
# then counts from there, so connections opened at start and idle since are
# checked like the others). Who holds it, and a connection given back twice
# (which psycopg_pool would accept and answer with a second replacement),
# are the ledger's (django_multipool.ledger).


class _LifoConnectionPool(psycopg_pool.ConnectionPool[Any]):
    """psycopg_pool's pool, handing out the most recently returned connection first.

    psycopg_pool is FIFO: a thread that runs statements one after another
    (``release="transaction"``, or a run of short requests) gets a different
    server session each time and wakes a cold backend process for each; with
    LIFO it keeps one hot session, and connections left at the cold end sit
    unused, so ``max_idle`` can close them (FIFO keeps them all in rotation).
    SQLAlchemy's ``pool_use_lifo`` and HikariCP make the same choice.

    With no idle connection it takes one parked between its borrower's
    statements (``release="transaction"``, :class:`~django_multipool.parking.ParkingSpot`)
    before it queues the caller or grows.
    """

    def __init__(self, *args: Any, parked: ParkingLot[Any], **kwargs: Any) -> None:
        # Shared with the adapter, which parks and retakes; taken from here
        # only under self._lock, where psycopg_pool decides who waits.
        self._parked = parked
        super().__init__(*args, **kwargs)
        # psycopg_pool's retries of refused attempts, waiting in its scheduler.
        self._retries: list[_Retry] = []

    def _get_ready_connection(self, timeout: float | None) -> Any:
        # psycopg_pool's own method (3.3; 3.2's lacks only the first test and
        # uses the same attributes), with pop() where it has
        # popleft(): returned connections are appended on the right, so this
        # takes the newest, and shrinking (popleft) still closes the one unused
        # longest. A copy, not super() around a rotate(), which showed in the
        # checkout cycle's benchmark. One branch is ours: the
        # parked connections. tests/unit/test_psycopg_lifo.py fails if
        # psycopg_pool's version changes.
        if timeout is not None and timeout <= 0.0:
            raise psycopg_pool.PoolTimeout()

        conn = None
        if self._pool:
            conn = self._pool.pop()
            if len(self._pool) < self._nconns_min:
                self._nconns_min = len(self._pool)
        elif self._parked and (conn := self._parked.take_longest()) is not None:
            pass  # lent already, as psycopg_pool counts: nothing to update
        elif self.max_waiting and len(self._waiting) >= self.max_waiting:
            self._stats[self._REQUESTS_ERRORS] += 1
            raise psycopg_pool.TooManyRequests(
                f"the pool {self.name!r} has already {len(self._waiting)} requests waiting"
            )
        return conn

    #: The driver's error at the last failed connection attempt; None after a success.
    last_connect_error: BaseException | None = None
    #: Its cause if it was a refusal (see refusal()); None otherwise.
    last_refusal: str | None = None
    _refused_at = 0.0
    #: Connections opened. psycopg_pool's connections_num counts attempts when
    #: they start, so (attempts - errors) also counts one still in progress.
    connections_opened = 0
    #: Called with each new connection's open-and-set-up time (PoolAdapter.record_timings).
    on_connected: Callable[[float], None] | None = None

    def _connect(self, timeout: float | None = None) -> Any:
        # Kept for PoolTimeout's message, so that a caller who timed out needs
        # no connection attempt of its own to say why (which made it wait a
        # connect timeout more, 3 s, and added to a struggling server's load).
        started = monotonic()
        with self._lock:
            asked = list(self._waiting)  # who this attempt may answer
        try:
            conn = super()._connect(timeout)
        except Exception as exc:
            self.last_connect_error = exc
            self._note_failure(exc, asked)
            raise
        self.last_connect_error = None
        if self.last_refusal is not None:
            self._server_is_back()
        with _COUNTING:  # psycopg_pool's workers connect in parallel
            self.connections_opened += 1
        if self.on_connected is not None:
            self.on_connected(monotonic() - started)
        return conn

    # -- a server that refuses -----------------------------------------------------
    #
    # psycopg_pool retries a failed attempt with a backoff that grows to
    # minutes (up to reconnect_timeout, then gives the slot up), and its
    # clients wait out their timeout meanwhile. Here a refusal fails the
    # clients that queued before the attempt began, and a retry it schedules
    # is wrapped in a _Retry that a client queueing later brings forward.

    def _note_failure(self, exc: BaseException, asked: list[WaitingClient[Any]]) -> None:
        cause = refusal(exc)
        with self._lock:
            self.last_refusal = cause
            if cause is None:
                return
            self._refused_at = monotonic()
            answered = {id(client) for client in asked}
            kept = [client for client in self._waiting if id(client) not in answered]
            self._waiting.clear()
            self._waiting.extend(kept)
        for client in asked:  # those that timed out meanwhile decline it
            client.fail(_Refused(cause, exc))

    def _server_is_back(self) -> None:
        with self._lock:
            self.last_refusal = None
            retries = list(self._retries)
        for retry in retries:  # refill now, not at the end of each backoff
            super().schedule_task(retry, 0)

    def schedule_task(self, task: MaintenanceTask, delay: float) -> None:
        if not (isinstance(task, AddConnection) and self.last_refusal is not None):
            super().schedule_task(task, delay)
            return
        retry = _Retry(self, task)
        with self._lock:
            self._retries.append(retry)
            if self._someone_waits_locked():  # queued while the attempt ran
                retry.brought_forward = True
                delay = min(delay, _REFUSED_RETRY)
        super().schedule_task(retry, delay)

    def _maybe_grow_pool(self) -> None:
        # Under self._lock: a client has just queued.
        super()._maybe_grow_pool()
        if self.last_refusal is not None and self._retries:
            retry = self._retries[0]
            if not retry.brought_forward:
                retry.brought_forward = True
                wait = self._refused_at + _REFUSED_RETRY - monotonic()
                super().schedule_task(retry, max(0.0, wait))

    def reconnect_failed(self) -> None:
        super().reconnect_failed()
        # psycopg_pool gave a slot up (reconnect_timeout): clients that queued
        # during its last attempt would wait for another client to grow it.
        with self._lock:
            if not self._closed and self._someone_waits_locked():
                self._maybe_grow_pool()

    def _take_retry(self, retry: _Retry) -> bool:
        """True for the first of a retry's scheduled runs, False for the others."""
        with self._lock:
            try:
                self._retries.remove(retry)
            except ValueError:
                return False
            return True

    def _someone_waits_locked(self) -> bool:
        # Clients that timed out stay in _waiting until a connection comes.
        return any(c.conn is None and c.error is None for c in self._waiting)


class _Retry(MaintenanceTask):
    """psycopg_pool's retry of a refused attempt, scheduled once or twice, run once."""

    def __init__(self, pool: _LifoConnectionPool, task: AddConnection) -> None:
        super().__init__(pool)
        self.task = task
        self.brought_forward = False

    def _run(self, pool: Any) -> None:
        if pool._take_retry(self):
            self.task.run()


class PsycopgPoolAdapter(PoolAdapter):
    vendor = "postgresql"
    reserved_driver_options: ClassVar[Mapping[str, str]] = {
        "min_size": "min_size",
        "max_size": "max_size",
        "timeout": "timeout",
        "max_waiting": "max_waiting",
        "max_lifetime": "max_lifetime",
        "max_idle": "max_idle",
        "check": "check",
        "reset": "reset",
        "name": "name",
        "open": POOLS_OPEN_AT_FIRST_USE,
        "kwargs": CONNECT_ARGUMENTS_COME_FROM_DATABASES,
        "conninfo": CONNECT_ARGUMENTS_COME_FROM_DATABASES,
        "configure": "configure",
    }

    def _build(self) -> None:
        config, name = self.config, self.name
        connect_kwargs = self._connect_kwargs
        # check=N is ours, not a psycopg_pool callback: the callback machinery
        # would run on every checkout, and the idle test is all most need.
        self._check_after = check_after(config)
        # release="transaction": connections parked between their borrower's
        # statements (see park()); psycopg_pool counts them as lent.
        self._parked: ParkingLot[Any] = ParkingLot()
        # reset="session" must run at every return: nothing parks then.
        self.parks = config.reset == "rollback"
        self._pool: _LifoConnectionPool = _LifoConnectionPool(
            parked=self._parked,
            # Django sets autocommit on every checkout; psycopg_pool needs
            # connections that start IDLE for its configure/reset callbacks.
            kwargs={**_bounded_connect(connect_kwargs, config.timeout), "autocommit": True},
            open=False,
            min_size=config.min_size,
            max_size=config.max_size,
            timeout=config.timeout,
            max_waiting=config.max_waiting,
            max_lifetime=_NEVER if config.max_lifetime is None else config.max_lifetime,
            max_idle=_NEVER if config.max_idle is None else config.max_idle,
            configure=self._configure,
            reset=self._reset_session if config.reset == "session" else None,
            name=name,
            **config.driver_options,
        )
        self._getconn, self._putconn = self._pool.getconn, self._pool.putconn

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def _open(self, wait: bool) -> None:
        self._pool.open(wait=wait, timeout=self.config.timeout)

    def _close(self, timeout: float) -> None:
        # Closed first: nothing parks any more, and putconn() closes what it gets.
        self._pool.close(timeout=timeout)
        while self._parked and (conn := self._parked.take_longest()) is not None:
            self._putconn(conn)

    def _forget_after_fork(self) -> None:
        # psycopg_pool is not fork-safe: in a child its idle connections are
        # the parent's sessions, and its close() would log them out. Marked
        # closed (no lock taken: a parent thread may have held it), it
        # refuses getconn() with PoolClosed and close() returns at once. A
        # connection lent before the fork and given back here is kept, not
        # rolled back, reset or closed (a closed psycopg_pool closes what it
        # gets back); psycopg's finalisers check the PID, so dropping these
        # objects later sends nothing either. Instance attributes: the
        # parent's release() stays the fused fast path.
        self._pool._closed = True
        self._ledger.forget_after_fork()
        kept: list[Any] = list(self._parked.values())
        self._parked.clear()
        self.release = self.discard = kept.append  # type: ignore[method-assign,assignment]

    # acquire/release override the base's template: a fused frame each, one
    # clock read each, shared by the ledger and the idle check.

    def acquire(self, timeout: float | None = None, owner: Any = None) -> Any:
        if _deferred:
            run_deferred()
        timings = self._ledger.timings
        started = monotonic() if timings is not None else 0.0
        try:
            # None is psycopg_pool's own default, our config's timeout.
            conn = self._getconn(timeout)
        except _POOL_ERRORS as exc:
            error = self._pool_error(exc, self._timeout if timeout is None else timeout)
            # At the latest now, a slot held by a borrower that no longer
            # exists comes back: then this caller gets a second wait. (Not
            # when the server refused: no slot would help.)
            if (
                not isinstance(error, PoolTimeout)
                or isinstance(error, ConnectRefused)
                or not self._ledger.reclaim_dropped(collect=True)
            ):
                raise error from None
            return self.acquire(timeout, owner)
        now = monotonic()
        if timings is not None:
            timings.waits.append(now - started)
        # check=False makes the threshold infinite.
        if now - conn._multipool_idle_since >= self._check_after:
            conn = self._validated(conn, now, self._timeout if timeout is None else timeout)
        self._ledger.lend(conn, owner, now)
        return conn

    def release(self, conn: Any) -> None:
        now = monotonic()
        if not self._ledger.end(conn, now):
            return  # reclaimed meanwhile: closed already
        conn._multipool_idle_since = now
        if conn.pgconn.transaction_status:  # not IDLE: in a transaction, or worse
            self._roll_back(conn)
        self._putconn(conn)

    def _release(self, conn: Any) -> None:
        # release()'s body, for park() when a connection cannot park.
        conn._multipool_idle_since = monotonic()
        if conn.pgconn.transaction_status:
            self._roll_back(conn)
        self._putconn(conn)

    def _park(self, spot: ParkingSpot, conn: Any, now: float) -> bool:
        # Not IDLE (a transaction, or closed) or past max_lifetime: putconn()
        # has work to do.
        if conn.pgconn.transaction_status or conn._expire_at <= now:
            return False
        pool = self._pool
        with pool._lock:
            # The lock psycopg_pool decides under who waits: once a client
            # waits, nothing parks until putconn() served it.
            if pool._waiting or pool._closed:
                return False
            conn._multipool_idle_since = now
            self._parked[spot] = conn
        return True

    def holds_transaction(self, conn: Any) -> bool:
        # In a transaction, or failed in one (until ROLLBACK); not UNKNOWN,
        # a broken connection, which the return path tests and replaces.
        return conn.pgconn.transaction_status in _OPEN_TRANSACTION

    def _retake(self, spot: ParkingSpot, now: float) -> Any | None:
        conn = self._parked.pop(spot, None)
        if conn is None:
            return None
        if self._pool._closed:
            self._putconn(conn)  # closes it
            return None
        if now - conn._multipool_idle_since >= self._check_after:
            return self._validated(conn, now, self._timeout)
        return conn

    def release_parked(self, spot: ParkingSpot) -> None:
        conn = self._parked.pop(spot, None)
        if conn is not None:
            self._putconn(conn)

    def discard(self, conn: Any) -> None:
        now = monotonic()
        if self._ledger.end(conn, now):
            conn._multipool_idle_since = now
            self._discard(conn)

    @property
    def parked(self) -> int:
        return len(self._parked)

    def _validated(self, conn: Any, now: float, timeout: float) -> Any:
        """Return ``conn`` if it answers, else the first that does, within ``timeout``.

        The deadline counts from the hand-over of ``conn``: a checkout that
        also waited for it may take up to that wait longer, on this rare path.
        """
        deadline = now + timeout
        while True:
            # Bounded: a stalled server must not keep the caller past its deadline.
            check = psycopg_pool.ConnectionPool.check_connection
            if self._answers(conn, left_until(deadline), "the check", check):
                return conn
            # Closed, putconn() counts it and opens a replacement.
            conn.close()
            self._pool.putconn(conn)
            try:
                conn = self._pool.getconn(deadline - monotonic())
            except _POOL_ERRORS as exc:
                raise self._pool_error(exc, timeout) from None
            if monotonic() - conn._multipool_idle_since < self._check_after:
                return conn  # not due for a check: just opened (or returned)

    def _pool_error(self, exc: Exception, timeout: float) -> Exception:
        if isinstance(exc, _Refused):
            refused = ConnectRefused.after_attempt(
                self.name, exc.cause, self._redacted(exc.error), timeout
            )
            logger.warning("%s", refused)
            return refused
        if isinstance(exc, psycopg_pool.TooManyRequests):
            return TooManyRequests.queue_full(self.name, self.config.max_size, self._waiting_now())
        if isinstance(exc, psycopg_pool.PoolClosed):
            return PoolClosed(f"pool {self.name!r} is closed")
        in_use = self.checked_out
        connect_errors = self._pool.get_stats().get("connections_errors", 0)
        error = timed_out(
            self.name,
            self.config,
            timeout,
            waiting=self._waiting_now(),
            in_use=in_use,
            connect_errors=connect_errors,
            connect_error=self._why_connecting_fails() if connect_errors else None,
        )
        logger.warning("%s", error)
        return error

    def _why_connecting_fails(self) -> str | None:
        """What the driver said at the pool's last failed connection attempt.

        Only on the path where requests already timed out because the pool
        could not connect.
        """
        exc = self._pool.last_connect_error
        return None if exc is None else self._redacted(exc)

    def _redacted(self, exc: BaseException) -> str:
        password = self._connect_kwargs.get("password")
        return redact(str(exc).strip(), [str(password)] if password else [])

    def _discard(self, conn: Any) -> None:
        # A closed connection is recognised as broken by putconn, which
        # counts it and opens a replacement in the background.
        conn.close()
        self._pool.putconn(conn)

    def _time_connects(self, record: Callable[[float], None]) -> None:
        self._pool.on_connected = record

    def _stats(self, usage_ms: int) -> PoolStats:
        raw = self._pool.get_stats()  # zero counters may be missing
        return PoolStats(
            pool_min=raw["pool_min"],
            pool_max=raw["pool_max"],
            pool_size=raw["pool_size"],
            pool_available=raw["pool_available"] + self.parked,
            requests_waiting=self._waiting_now(),
            requests_num=raw.get("requests_num", 0),
            requests_queued=raw.get("requests_queued", 0),
            requests_wait_ms=raw.get("requests_wait_ms", 0),
            requests_errors=raw.get("requests_errors", 0),
            connections_num=self._pool.connections_opened,
            connections_errors=raw.get("connections_errors", 0),
            connections_lost=raw.get("connections_lost", 0) + raw.get("returns_bad", 0),
            usage_ms=usage_ms,
        )

    def _waiting_now(self) -> int:
        # psycopg_pool's requests_waiting also counts clients that timed out
        # (they leave its queue only when a connection is next handed over).
        # _waiting and WaitingClient's fields are checked at import
        # (adapters/_psycopg_privates.py).
        return sum(1 for w in list(self._pool._waiting) if w.conn is None and w.error is None)

    # -- psycopg_pool callbacks ------------------------------------------------------

    def _configure(self, conn: Any) -> None:
        conn._multipool_idle_since = monotonic()
        if self._setup is None:
            return
        # A connection whose setup failed is closed here: psycopg_pool would
        # leave it to the garbage collector. Counted as a failed connection
        # attempt, so that PoolTimeout quotes the error.
        try:
            self._setup(conn)
            status = conn.pgconn.transaction_status
            if status != psycopg.pq.TransactionStatus.IDLE:
                raise psycopg.ProgrammingError(
                    f"the setup of a new connection left it in a transaction "
                    f"({psycopg.pq.TransactionStatus(status).name}): {SETUP_LEFT_A_TRANSACTION}"
                )
        except BaseException:
            conn.close()
            pool = self._pool
            pool._stats[pool._CONNECTIONS_ERRORS] += 1
            raise

    def _roll_back(self, conn: Any) -> None:
        """Roll back a returned connection's transaction, within ``timeout``.

        psycopg_pool would do it in putconn(), unbounded: on a stalled server
        the thread giving the connection back (Django's request end) would
        hang. A connection that does not answer in time is closed, and
        putconn() replaces it.
        """
        if conn.pgconn.transaction_status not in _OPEN_TRANSACTION:
            return  # ACTIVE or UNKNOWN (closed): psycopg_pool discards it
        if not self._answers(conn, self._timeout, "the rollback", psycopg.Connection.rollback):
            conn.close()  # putconn() counts it as lost and opens a replacement

    def _answers(
        self, conn: Any, limit: float, what: str, round_trip: Callable[[Any], object]
    ) -> bool:
        """Run one round trip of the pool's own on ``conn``, bounded by ``limit``.

        False, logged, if the connection failed it or did not answer in time:
        the caller closes it, and psycopg_pool replaces it.
        """
        try:
            with bounded(limit, _interrupter(conn), what):
                round_trip(conn)
        except (psycopg.Error, NoAnswer) as exc:
            logger.warning(
                "pool %r: a connection failed %s (%s); closing it, a replacement opens",
                self.name,
                what,
                str(exc).strip(),
            )
            return False
        return True

    def _reset_session(self, conn: psycopg.Connection[Any]) -> None:
        # In psycopg_pool's worker: bounded like every round trip of ours, and
        # failing with a psycopg error, which psycopg_pool answers by closing
        # and replacing the connection (anything else would end its worker).
        try:
            with bounded(self._timeout, _interrupter(conn), "the session reset"):
                self._discard_session_state(conn)
        except NoAnswer as exc:
            raise psycopg.OperationalError(str(exc)) from exc

    def _discard_session_state(self, conn: psycopg.Connection[Any]) -> None:
        # psycopg_pool has already rolled back an open transaction. DISCARD ALL
        # cannot run inside a transaction block, so leave autocommit on (the
        # next checkout sets it as Django wants).
        conn.autocommit = True
        # psycopg forgets the statements it prepared when it sees DISCARD ALL,
        # but only while prepare_threshold is set (Django's default is None):
        # a borrower may have prepared with a threshold of its own and unset
        # it, and the next one would execute names the server no longer has.
        conn.prepare_threshold = 0
        psycopg.Cursor(conn).execute("DISCARD ALL", prepare=False)
        conn.prepare_threshold = self._connect_kwargs.get("prepare_threshold", 5)
        # psycopg sends these with every BEGIN: they are session
        # characteristics kept client-side, and DISCARD ALL cannot see them.
        # (Django sets its configured isolation level at each checkout.)
        conn.isolation_level = conn.read_only = conn.deferrable = None
        if self._setup is not None:
            self._setup(conn)


def _interrupter(conn: Any) -> functools.partial[None]:
    """What the watchdog calls to end a round trip of ``conn`` that overran."""
    return functools.partial(shut_down_socket, conn.pgconn.socket)


def _bounded_connect(connect_kwargs: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """``connect_kwargs`` with a connect timeout, unless the settings give one.

    psycopg's default is 130 s per attempt; a stalled server would hold a
    psycopg_pool worker that long. The pool's ``timeout`` is how long anyone
    waits for a connection: no attempt needs longer (libpq's minimum is 2 s).
    """
    given = "connect_timeout" in connect_kwargs or "service" in connect_kwargs
    if given or os.environ.get("PGCONNECT_TIMEOUT"):
        return dict(connect_kwargs)
    return {**connect_kwargs, "connect_timeout": max(2, math.ceil(timeout))}
