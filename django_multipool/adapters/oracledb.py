"""Oracle through python-oracledb's own pool, in thin mode.

What oracledb's pool does the way the shared schema means it, it does: sizes
and growth (in its background thread), the acquire wait, shrinking idle
connections above ``min_size``, rollback of an open transaction on return,
and the once-per-session setup (its ``session_callback``). This module adds
what it lacks or means differently:

- **Names and units.** oracledb's ``timeout`` is the *idle* timeout; the
  acquire wait is ``wait_timeout``, in milliseconds, and only applies with
  ``getmode=POOL_GETMODE_TIMEDWAIT`` (its default, WAIT, blocks forever).
  Its idle and lifetime limits are whole seconds, rounded up here.
- **Exact lifetime and validation.** Whole seconds would retire a 0.5 s
  ``max_lifetime`` after 1 s and skip a connection idle 1.5 s under
  ``check=1.5``; and oracledb never says what its own pings found. So the
  adapter stamps each session when it is opened and returned, retires
  expired ones on return, and pings (one round trip, bounded by
  ``ping_timeout`` and by what is left of the acquire's ``timeout``) only
  connections idle ``check`` seconds or more;
  oracledb's own ping is off so no checkout pays two.
- ``max_waiting``, and every statistic but oracledb's ``opened``/``busy``.
- ``reset="rollback"`` is oracledb's rule (roll back only if a transaction
  is open), applied by the adapter so that a failing rollback drops the
  session instead of failing Django's ``close()``, and one that gets no
  answer within ``timeout`` (``call_timeout``) drops it instead of hanging.
- ``acquire(timeout=...)`` other than the configured timeout: oracledb has
  one wait per pool, so such a call waits in a helper thread.
- ``reset="session"``: thin mode cannot reset a session in place, so a
  returned session is ended and the pool opens a fresh one.
- **DRCP**: the server may hand a different server session to the same
  connection at each checkout, so the setup runs at every checkout.
- A server that refuses (down, unknown host, login refused: :func:`refusal`)
  raises ``ConnectRefused``, naming the cause, instead of the driver's error:
  oracledb already hands the failed attempt's error to the waiting caller,
  so this is the one error every vendor raises there.
- **Fork safety**: a forked child never touches the parent's sockets, and
  pools it builds are closed when it exits (oracledb closes pools at exit
  only in the process that built its first pool: a child would hang).
"""

from __future__ import annotations

# First: a python-oracledb release without a name used here fails with the fix.
from . import _oracledb_privates  # noqa: F401  # isort: skip

import contextlib
import inspect
import logging
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from time import monotonic, sleep
from typing import Any, ClassVar

import oracledb

from .._fork import after_fork_in_child
from .._redact import redact, secrets_of
from ..adapter import ConnectionSetup, Counters, PoolAdapter, PoolStats
from ..config import PoolConfig
from ..errors import (
    AUTHENTICATION_FAILED,
    ConnectRefused,
    PoolClosed,
    PoolConfigError,
    PoolError,
    PoolTimeout,
    TooManyRequests,
    os_refusal,
)
from ..policy import SETUP_LEFT_A_TRANSACTION, check_after, expires_at, timed_out

__all__ = ["OracledbPoolAdapter", "pool_parameters", "refusal"]

logger = logging.getLogger("django_multipool")

# oracledb error codes (``error.full_code``) the adapter translates.
NO_CONNECTION_AVAILABLE = "DPY-4005"  # the TIMEDWAIT wait expired
POOL_NOT_OPEN = "DPY-1002"
RESIZE_NEEDS_THICK_MODE = "DPY-3001"
# Logins the database refused: invalid credentials (ORA-01017), account
# locked (ORA-28000), no CREATE SESSION privilege (ORA-01045).
LOGIN_REFUSED = frozenset({"ORA-01017", "ORA-28000", "ORA-01045"})

#: oracledb's own default bound on a validation ping, in ms.
DEFAULT_PING_TIMEOUT_MS = 5000
# The least a check's ping is given, even when the acquire deadline is
# (almost) over: a healthy server answers well within it.
_MIN_ROUND_TRIP_MS = 100

_UINT32_MAX = 2**32 - 1

# Parameters create_pool() takes and connect() does not. Django's own Oracle
# pool passes every OPTIONS key to create_pool(), so users bring them along in
# OPTIONS; there they would silently override the shared schema.
_POOL_ONLY_PARAMETERS = frozenset(
    (
        set(inspect.signature(oracledb.PoolParams.__init__).parameters)
        - set(inspect.signature(oracledb.ConnectParams.__init__).parameters)
    )
    | {"pool_alias", "pool_class", "params"}
) - {"self"}

# driver_options the shared schema does not cover and that we cannot accept.
_REFUSED_DRIVER_OPTIONS = {
    "homogeneous": "a pool serves the one USER of its DATABASES entry",
    "pool_alias": (
        "it registers the pool in python-oracledb's process-wide pool cache, which "
        "outlives settings changes and fork()"
    ),
    "pool_class": "the adapter builds python-oracledb's ConnectionPool itself",
    "params": "the DATABASES entry and OPTIONS['pool'] are the parameters",
    "user": "it comes from DATABASES USER",
    "password": "it comes from DATABASES PASSWORD",
    "dsn": "it comes from DATABASES NAME, HOST and PORT",
    "pool_boundary": (
        "with implicit connection pooling the database may swap the server session "
        "between statements, and Django's session settings (NLS formats, time "
        "zone) would not hold. Use DRCP without pool_boundary"
    ),
}


def whole_seconds(seconds: float | None, key: str) -> int:
    """A limit in oracledb's unit: whole seconds, 0 = never; rounded up, never shorter."""
    if seconds is None:
        return 0
    # At least 1: a positive limit rounded to 0 would mean "never" to oracledb.
    return _as_uint32(max(1, math.ceil(round(seconds, 6))), key, "seconds")


def milliseconds(seconds: float, key: str) -> int:
    """oracledb's ``wait_timeout``: whole milliseconds, rounded up."""
    # round() first: 0.3 * 1000 is 300.00000000000006, which must not become 301.
    return _as_uint32(max(1, math.ceil(round(seconds * 1000, 6))), key, "milliseconds")


def _as_uint32(value: int, key: str, unit: str) -> int:
    if value > _UINT32_MAX:
        raise PoolConfigError(
            f"OPTIONS['pool'][{key!r}] is {value} {unit} in python-oracledb's unit, more "
            f"than it can hold ({_UINT32_MAX}). Use a smaller value, or None for 'never' "
            f"where the key allows it."
        )
    return value


def pool_parameters(config: PoolConfig) -> dict[str, Any]:
    """The shared schema as ``oracledb.create_pool()`` keyword arguments."""
    return {
        "min": config.min_size,
        "max": config.max_size,
        "increment": 1,  # driver_options may change it
        "getmode": oracledb.POOL_GETMODE_TIMEDWAIT,
        "wait_timeout": milliseconds(config.timeout, "timeout"),
        "timeout": whole_seconds(config.max_idle, "max_idle"),
        "max_lifetime_session": whole_seconds(config.max_lifetime, "max_lifetime"),
        # The adapter validates (exactly, and counted): see _must_validate().
        "ping_interval": -1,
    }


def error_code(exc: BaseException) -> str | None:
    """The ``DPY-nnnn``/``ORA-nnnnn`` code of an oracledb exception, if any."""
    error = exc.args[0] if exc.args else None
    return getattr(error, "full_code", None)


def refusal(exc: BaseException) -> str | None:
    """The cause if an error of python-oracledb connecting says the server refused.

    A refused port is DPY-6005 raised from ``ConnectionRefusedError``; a host
    that does not exist is the resolver's ``socket.gaierror`` itself (thin
    mode raises it unwrapped); a timeout is DPY-6005 too, and not a refusal.
    """
    if error_code(exc) in LOGIN_REFUSED:
        return AUTHENTICATION_FAILED
    return os_refusal(exc)


@dataclass(slots=True)
class _SessionTimes:
    #: When ``max_lifetime`` retires it (django_multipool.policy.expires_at).
    expires: float
    #: When it last went back to the pool; None while it has never been used.
    returned: float | None = None


class OracledbPoolAdapter(PoolAdapter):
    vendor = "oracle"
    # Thin mode has no in-place session reset: reset="session" ends the
    # session and the pool opens a new one (see docs/vendors/oracle.md).
    resets_session_in_place = False
    reserved_driver_options: ClassVar[Mapping[str, str]] = {
        "min": "min_size",
        "max": "max_size",
        "getmode": "timeout",
        "wait_timeout": "timeout",
        "timeout": "max_idle",  # oracledb's timeout is the idle timeout
        "max_lifetime_session": "max_lifetime",
        "ping_interval": "check",
        # The backend runs Django's session setup in it, then OPTIONS["pool"]["configure"].
        "session_callback": "configure",
    }

    def _build(self) -> None:
        config, connect_kwargs = self.config, self._connect_kwargs
        _refuse_misplaced_options(connect_kwargs, config.driver_options)
        if not oracledb.is_thin_mode():
            raise PoolConfigError(
                "django_multipool.backends.oracle runs python-oracledb in thin mode, but "
                "oracledb.init_oracle_client() switched this process to thick mode, which "
                "this backend's session bookkeeping was not built or verified for. Remove "
                "the init_oracle_client() call."
            )
        self._pool_kwargs: dict[str, Any] = {
            **connect_kwargs,
            **pool_parameters(config),
            **config.driver_options,
            "session_callback": self._on_new_session,
        }
        self._drcp, self._drcp_class_named = _drcp_request(self._pool_kwargs)
        self._check_after = check_after(config)
        self._ping_timeout_ms = int(
            config.driver_options.get("ping_timeout", DEFAULT_PING_TIMEOUT_MS)
        )
        # The bound on the pool's other round trips (rollback on return).
        self._round_trip_ms = milliseconds(config.timeout, "timeout")
        self._session_reset = config.reset == "session"
        # Session times beyond this many are pruned (see _on_new_session).
        self._session_limit = 2 * config.max_size + 16

        self._pool: Any = None
        self._lock = threading.Lock()
        # id(connection) -> connection, while lent. A borrower that
        # disappears with one is the ledger's to notice; it discards it.
        self._lent: dict[int, Any] = {}
        self._sessions: dict[int, _SessionTimes] = {}  # id(connection._impl) -> times
        self._closing = False
        self._pool_closed = False
        self._abandoned = False

        self._waiting = 0
        self._counts = Counters()

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def connection_setup(self) -> ConnectionSetup | None:
        """What runs on each new session (the backend reads what it learned)."""
        return self._setup

    @property
    def uses_drcp(self) -> bool:
        """Whether the connect string or driver_options ask for DRCP (server_type pooled)."""
        return self._drcp

    # -- life cycle ------------------------------------------------------------------

    def _open(self, wait: bool) -> None:
        if self._closing or self._pool is not None:
            return
        if self._drcp and not self._drcp_class_named:
            logger.warning(
                "pool %r uses DRCP without a connection class: python-oracledb then makes "
                "one up per pool, so server sessions are not shared between processes. "
                "Set OPTIONS['pool']['driver_options']['cclass'].",
                self.name,
            )
        self._pool = oracledb.create_pool(**self._pool_kwargs)
        _adopt(self)
        if wait:
            self._wait_for_min_size()

    def _wait_for_min_size(self) -> None:
        # oracledb opens min connections in its background thread and gives up
        # silently when one fails: poll, and say so when it does not get there.
        deadline = monotonic() + self.config.timeout
        while self._pool.opened < self.config.min_size:
            if monotonic() >= deadline:
                raise PoolTimeout(
                    f"pool {self.name!r} opened {self._pool.opened} of "
                    f"{self.config.min_size} connections (min_size) within "
                    f"{self.config.timeout:.2f} s. Check that the database is reachable."
                )
            sleep(0.01)

    def _close(self, timeout: float) -> None:
        with self._lock:
            self._closing = True
            drained = not self._lent
        # Connections still lent out go back (and the pool closes) on release:
        # oracledb's own close(force=True) would cut them off mid-use.
        if drained:
            self._close_driver_pool(timeout)

    def terminate(self, timeout: float = 5.0) -> None:
        """Close now, ending sessions still lent out too (their next call fails).

        For the end of a test run, where the test user is dropped next and a
        session left open would make DROP USER fail (ORA-01940).
        """
        with self._lock:
            self._closing = True
            self._lent.clear()
        self._close_driver_pool(timeout)

    def _close_driver_pool(self, timeout: float) -> None:
        with self._lock:
            if self._pool_closed or self._pool is None:
                self._pool_closed = True
                return
            self._pool_closed = True
        # oracledb's close() joins its background thread, which may be stuck in a
        # connection attempt (up to tcp_connect_timeout): bound our wait for it.
        closer = threading.Thread(
            target=_close_quietly, args=(self._pool,), name=f"multipool-close-{self.name}"
        )
        closer.daemon = True
        closer.start()
        closer.join(timeout)
        if closer.is_alive():
            logger.warning(
                "pool %r: python-oracledb is still closing after %.1f s (a connection "
                "attempt in progress cannot be interrupted); it finishes in the background",
                self.name,
                timeout,
            )
        _disown(self)

    def resize(self, min_size: int, max_size: int) -> None:
        """Change the pool's bounds; python-oracledb thin mode refuses (DPY-3001)."""
        if self._pool is None or self._pool_closed:
            raise PoolClosed(f"pool {self.name!r} is not open")
        try:
            self._pool.reconfigure(min=min_size, max=max_size)
        except oracledb.NotSupportedError as exc:
            if error_code(exc) != RESIZE_NEEDS_THICK_MODE:
                raise
            raise PoolError(
                f"pool {self.name!r} cannot be resized: python-oracledb thin mode cannot "
                f"change the size of an open pool ({RESIZE_NEEDS_THICK_MODE}). Change "
                f"OPTIONS['pool']['min_size'] / ['max_size'] instead: a settings change "
                f"builds a new pool."
            ) from None

    # -- checkout ----------------------------------------------------------------------

    def _acquire(self, timeout: float) -> Any:
        self._admit()
        started = monotonic()
        try:
            if timeout == self.config.timeout:
                return self._checkout(started + timeout, timeout)
            return self._checkout_in_helper(timeout)
        except (PoolTimeout, PoolClosed) as exc:
            with self._lock:
                self._counts.requests_errors += 1
            if isinstance(exc, PoolTimeout):
                logger.warning("%s", exc)
            raise
        finally:
            with self._lock:
                self._waiting -= 1
                self._counts.requests_wait_s += monotonic() - started

    def _admit(self) -> None:
        """Count the request; refuse it at once when max_waiting others wait already."""
        idle = self._idle_now()
        with self._lock:
            self._counts.requests_num += 1
            if self._closing:
                self._counts.requests_errors += 1
                raise PoolClosed(f"pool {self.name!r} is closed")
            if idle <= 0:
                limit = self.config.max_waiting
                if limit and self._waiting >= limit:
                    self._counts.requests_errors += 1
                    raise TooManyRequests.queue_full(self.name, self.config.max_size, limit)
                self._counts.requests_queued += 1
            self._waiting += 1

    def _checkout(self, deadline: float, timeout: float) -> Any:
        """One connection, validated as ``check`` says and set up when on DRCP."""
        while True:
            conn = self._acquire_from_driver(timeout)
            if self._must_validate(conn) and not self._ping(conn, deadline):
                self._lose(conn)
                if monotonic() >= deadline:
                    raise self._timeout_error(timeout)
                continue
            if self._drcp and self._setup is not None:
                try:
                    self._setup(conn)
                except BaseException:
                    self._drop(conn)
                    raise
            self._lend(conn)
            return conn

    def _acquire_from_driver(self, timeout: float) -> Any:
        if self._pool is None:
            raise PoolClosed(f"pool {self.name!r} is not open")
        try:
            return self._pool.acquire()
        except oracledb.Error as exc:
            code = error_code(exc)
            if code == NO_CONNECTION_AVAILABLE:
                raise self._timeout_error(timeout) from None
            if code == POOL_NOT_OPEN:
                raise PoolClosed(f"pool {self.name!r} is closed") from None
            # A connection attempt failed (the background thread's error is raised
            # here) or the session callback did: the driver's error says which.
            with self._lock:
                self._counts.connections_errors += 1
            self._raise_if_refused(exc, timeout)
            raise
        except OSError as exc:  # the resolver's gaierror, unwrapped
            with self._lock:
                self._counts.connections_errors += 1
            self._raise_if_refused(exc, timeout)
            raise

    def _raise_if_refused(self, exc: BaseException, timeout: float) -> None:
        cause = refusal(exc)
        if cause is not None:
            kwargs = self._connect_kwargs
            # NAME may be "user/password@dsn", which Django passes on as the dsn.
            secrets = secrets_of({"OPTIONS": kwargs, "NAME": kwargs.get("dsn")})
            text = redact(str(exc).strip(), secrets) or type(exc).__name__
            raise ConnectRefused.after_attempt(self.name, cause, text, timeout) from exc

    def _checkout_in_helper(self, timeout: float) -> Any:
        # oracledb's wait is one setting per pool; changing it for one call would
        # change it for every thread acquiring at that moment. So the helper
        # waits (with the configured timeout, as often as needed) and the caller
        # gives up after its own timeout; a connection that arrives later goes
        # straight back to the pool.
        handoff = _Handoff()
        deadline = monotonic() + timeout

        def wait_in_helper() -> None:
            try:
                while True:
                    try:
                        conn = self._checkout(deadline, self.config.timeout)
                        break
                    except ConnectRefused:
                        raise  # an answer, not a wait that ran out: no retry
                    except PoolTimeout:
                        if handoff.abandoned or monotonic() >= deadline:
                            raise
            except BaseException as exc:
                handoff.fail(exc)
                return
            if not handoff.deliver(conn):
                self._release(conn)

        helper = threading.Thread(target=wait_in_helper, name=f"multipool-acquire-{self.name}")
        helper.daemon = True
        helper.start()
        conn = handoff.wait(timeout)
        if conn is _Handoff.GAVE_UP:
            raise self._timeout_error(timeout)
        return conn

    def _timeout_error(self, timeout: float) -> PoolTimeout:
        with self._lock:
            waiting, in_use, failed = (
                self._waiting - 1,
                len(self._lent),
                self._counts.connections_errors,
            )
        return timed_out(
            self.name,
            self.config,
            timeout,
            waiting=waiting,
            in_use=in_use,
            connect_errors=failed,
        )

    def _must_validate(self, conn: Any) -> bool:
        after = self._check_after
        if after == 0 or after == math.inf:
            return after == 0
        times = self._sessions.get(id(conn._impl))
        if times is None:
            return True  # its times were pruned: validate rather than guess
        # A session never returned was opened for this very checkout.
        return times.returned is not None and monotonic() - times.returned >= after

    def _ping(self, conn: Any, deadline: float) -> bool:
        """One round trip, bounded like oracledb's own ping (``ping_timeout``, ms)
        and by what is left of the acquire's deadline: a stalled server must
        not keep the caller past its timeout."""
        left_ms = int((deadline - monotonic()) * 1000)
        previous = conn.call_timeout
        # 0 would mean "no limit" to oracledb.
        conn.call_timeout = max(min(self._ping_timeout_ms, left_ms), _MIN_ROUND_TRIP_MS)
        try:
            conn.ping()
        except oracledb.Error:
            return False
        conn.call_timeout = previous
        return True

    def _on_new_session(self, conn: Any, requested_tag: str | None) -> None:
        # oracledb's session_callback: the first checkout of a new session.
        with self._lock:
            self._counts.connections_num += 1
            if len(self._sessions) >= self._session_limit:
                # Sessions oracledb closed itself (idle timeout, lifetime, dead)
                # never tell us. Keep the times of lent sessions only; the others
                # get validated once and keep oracledb's whole-second lifetime.
                lent = {id(getattr(lent, "_impl", None)) for lent in self._lent.values()}
                self._sessions = {k: v for k, v in self._sessions.items() if k in lent}
            self._sessions[id(conn._impl)] = _SessionTimes(
                expires=expires_at(monotonic(), self.config.max_lifetime)
            )
        if self._setup is not None and not self._drcp:
            try:
                self._setup(conn)
                if conn.transaction_in_progress:  # thin mode tracks it: no round trip
                    raise oracledb.ProgrammingError(
                        f"the setup of a new session left a transaction open: "
                        f"{SETUP_LEFT_A_TRANSACTION}"
                    )
            except BaseException:
                # Dropped, not given back: oracledb would return the session
                # to the pool when this half-made connection object is freed
                # (and run the callback again at its next checkout).
                self._forget_session(conn)
                self._drop(conn)
                raise

    def holds_transaction(self, conn: Any) -> bool:
        return bool(conn.transaction_in_progress)

    # -- return ------------------------------------------------------------------------

    def _release(self, conn: Any) -> None:
        try:
            self._give_back(conn)
        finally:
            self._forget_lent(conn)

    def _give_back(self, conn: Any) -> None:
        if not conn.is_healthy():  # a local check, no round trip
            self._lose(conn)
            return
        times = self._sessions.get(id(conn._impl))
        expired = times is not None and monotonic() >= times.expires
        if self._session_reset or expired:
            self._end_session(conn)
            return
        # oracledb's own rule, applied here so that a rollback that fails (the
        # session died, or did not answer within timeout) drops the session
        # instead of failing, or hanging, Django's close().
        if conn.transaction_in_progress:
            previous = conn.call_timeout
            conn.call_timeout = self._round_trip_ms
            try:
                conn.rollback()
            except oracledb.Error:
                self._lose(conn)
                return
            conn.call_timeout = previous
        if times is not None:
            times.returned = monotonic()
        conn.close()  # back to oracledb's pool

    def _lose(self, conn: Any) -> None:
        logger.warning(
            "pool %r: a connection was found broken; dropping it (a replacement opens "
            "when needed)",
            self.name,
        )
        with self._lock:
            self._counts.connections_lost += 1
        self._forget_session(conn)
        self._drop(conn)

    def _end_session(self, conn: Any) -> None:
        # Thin mode cannot reset a session: end it, and the pool opens a fresh
        # one (in the background up to min_size, else for the next acquire).
        with contextlib.suppress(oracledb.Error):
            if conn.transaction_in_progress:
                conn.call_timeout = self._round_trip_ms
                conn.rollback()
        self._forget_session(conn)
        self._drop(conn)

    def _discard(self, conn: Any) -> None:
        try:
            self._lose(conn)
        finally:
            self._forget_lent(conn)

    def _drop(self, conn: Any) -> None:
        # Fails only when the pool or the connection is closed already.
        with contextlib.suppress(oracledb.Error):
            self._pool.drop(conn)

    def _forget_session(self, conn: Any) -> None:
        with self._lock:
            self._sessions.pop(id(conn._impl), None)

    def _lend(self, conn: Any) -> None:
        with self._lock:
            self._lent[id(conn)] = conn

    def _forget_lent(self, conn: Any) -> None:
        with self._lock:
            self._lent.pop(id(conn), None)
            drained = self._closing and not self._lent and not self._pool_closed
        if drained:
            self._close_driver_pool(5.0)

    # -- stats ---------------------------------------------------------------------------

    def _idle_now(self) -> int:
        pool = self._pool
        if pool is None or self._pool_closed:
            return 0
        # Closed under us (oracledb's exit handler, or a close racing this read):
        # an empty pool; acquiring then says PoolClosed.
        with contextlib.suppress(oracledb.Error, AttributeError):
            return int(pool.opened) - int(pool.busy)
        return 0

    def _stats(self, usage_ms: int) -> PoolStats:
        size = 0
        pool = self._pool
        if pool is not None and not self._pool_closed:
            with contextlib.suppress(oracledb.Error, AttributeError):
                size = int(pool.opened)
        idle = max(min(self._idle_now(), size), 0)
        with self._lock:
            return self._counts.stats(
                self.config, size=size, available=idle, waiting=self._waiting, usage_ms=usage_ms
            )

    # -- fork ----------------------------------------------------------------------------

    def _forget_after_fork(self) -> None:
        # The "pools" stage of django_multipool._fork: every inherited driver
        # pool was made inert in the "drivers" stage before (this one too;
        # _abandon_parents_pool() does nothing twice).
        self._ledger.forget_after_fork()
        _abandon_parents_pool(self)


class _Handoff:
    """A connection passed from a helper thread to a caller that may give up first."""

    GAVE_UP: ClassVar[object] = object()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._conn: Any = None
        self._error: BaseException | None = None
        self.abandoned = False

    def deliver(self, conn: Any) -> bool:
        """Hand over ``conn``; False if the caller gave up (the helper gives it back)."""
        with self._lock:
            if self.abandoned:
                return False
            self._conn = conn
        self._ready.set()
        return True

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self._error = error
        self._ready.set()

    def wait(self, timeout: float) -> Any:
        self._ready.wait(timeout)
        with self._lock:
            if self._conn is not None:
                return self._conn
            error = self._error
            if error is not None and (
                isinstance(error, ConnectRefused) or not isinstance(error, PoolTimeout)
            ):
                raise error
            self.abandoned = True
            return self.GAVE_UP


def _refuse_misplaced_options(
    connect_kwargs: Mapping[str, Any], driver_options: Mapping[str, Any]
) -> None:
    for key in sorted(_POOL_ONLY_PARAMETERS & set(connect_kwargs)):
        shared = OracledbPoolAdapter.reserved_driver_options.get(key)
        where = f"OPTIONS['pool'][{shared!r}]" if shared else "OPTIONS['pool']['driver_options']"
        raise PoolConfigError(
            f"OPTIONS[{key!r}] is a python-oracledb pool parameter. Django's own Oracle pool "
            f"passes every OPTIONS key to create_pool(); django-multipool takes pool "
            f"settings from OPTIONS['pool'] only: use {where}."
        )
    for key, why in _REFUSED_DRIVER_OPTIONS.items():
        if key in driver_options:
            raise PoolConfigError(
                f"OPTIONS['pool']['driver_options'][{key!r}] is not accepted: {why}."
            )


def _drcp_request(pool_kwargs: Mapping[str, Any]) -> tuple[bool, bool]:
    """(whether DRCP is asked for, whether a connection class is named), from
    driver_options and the connect string (``...:pooled``, ``(SERVER=POOLED)``,
    ``?pool_connection_class=``)."""
    params = oracledb.ConnectParams(config_dir=pool_kwargs.get("config_dir"))
    dsn = pool_kwargs.get("dsn")
    if dsn:
        # An alias we cannot resolve here is left to connecting, which reports
        # the real problem. (Never show this error: it quotes the connect string.)
        with contextlib.suppress(oracledb.Error):
            params.parse_connect_string(dsn)
    server_type = pool_kwargs.get("server_type") or params.server_type
    cclass = pool_kwargs.get("cclass") or params.cclass
    return str(server_type).lower() == "pooled", bool(cclass)


def _close_quietly(pool: Any) -> None:
    # force=True: nothing of ours is lent out by now, but waiters may be queued,
    # and oracledb refuses a plain close() then (DPY-1005).
    with contextlib.suppress(oracledb.Error):
        pool.close(force=True)


# -- process-wide bookkeeping for fork() and exit -------------------------------------

# Adapters whose driver pool is open (including retired ones still lending
# connections out), so that a forked child can neutralise them all, in the
# "drivers" stage of django_multipool._fork: before the registry and the
# wrappers let go of anything.
_live: set[OracledbPoolAdapter] = set()
_live_lock = threading.Lock()
# The parent's driver objects, neutralised and kept so no finaliser runs here.
_inherited: list[Any] = []
# Set in a forked child: its pools need our exit closer (see _close_at_exit).
_forked = False
_exit_closer_started = False
# The process in which inherited pools were last neutralised.
_abandoned_in: int | None = None


def _adopt(adapter: OracledbPoolAdapter) -> None:
    global _exit_closer_started
    with _live_lock:
        _live.add(adapter)
        start = _forked and not _exit_closer_started
        _exit_closer_started = _exit_closer_started or start
    if start:
        # Not a daemon, like oracledb's own closer: it must run at interpreter
        # shutdown, before the pools' (non-daemon) threads are joined.
        threading.Thread(target=_close_at_exit, name="multipool-oracledb-exit").start()


def _disown(adapter: OracledbPoolAdapter) -> None:
    with _live_lock:
        _live.discard(adapter)


def _close_at_exit() -> None:
    # python-oracledb closes pools at exit from a thread it starts in the first
    # process that builds one; a forked child inherits that bookkeeping but not
    # the thread, so without this its pools' threads keep it alive forever.
    threading.main_thread().join()
    with _live_lock:
        adapters = list(_live)
    for adapter in adapters:
        with adapter._lock:
            adapter._closing = adapter._pool_closed = True
        if adapter._pool is not None:
            _close_quietly(adapter._pool)  # no new thread: the interpreter is exiting


def _abandon_parents_pool(adapter: OracledbPoolAdapter) -> None:
    """In a forked child: make the parent's pool and connections inert, with no I/O.

    Closing a connection the parent lent out would roll back or log off over
    the parent's socket; closing the pool would take locks the parent's
    threads may have held at fork time. Both objects are emptied and their
    insides kept referenced, so neither a close nor a finaliser runs here.
    """
    if adapter._abandoned:
        return
    adapter._abandoned = True
    adapter._lock = threading.Lock()  # may have been held by a parent thread
    adapter._closing = adapter._pool_closed = True
    for conn in adapter._lent.values():
        _inherited.append(conn._impl)
        conn._impl = None  # oracledb.Connection.__del__ now does nothing
    adapter._lent.clear()
    pool = adapter._pool
    if pool is not None:
        _inherited.extend((pool, pool._impl))
        pool._impl = None  # oracledb.ConnectionPool.__del__ now does nothing


def _abandon_inherited_pools() -> None:
    """In a forked child, once, first thing: every inherited pool becomes inert."""
    global _live_lock, _forked, _exit_closer_started, _abandoned_in
    if _abandoned_in == os.getpid():
        return
    _abandoned_in = os.getpid()
    _live_lock = threading.Lock()  # may have been held by a parent thread
    _forked, _exit_closer_started = True, False
    for adapter in list(_live):
        _abandon_parents_pool(adapter)
    _live.clear()


after_fork_in_child("drivers", _abandon_inherited_pools)
