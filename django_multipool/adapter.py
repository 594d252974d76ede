"""The vendor-agnostic pool interface that every driver adapter implements.

An adapter owns one driver pool. It hands out the **driver's own connection
object** (never a proxy), maps every driver error about the pool to
:mod:`django_multipool.errors`, and reports :class:`PoolStats` with the same
keys whatever the driver counts itself.

The public methods do the bookkeeping shared by all vendors and call the
``_``-prefixed hooks that subclasses implement. An adapter over a driver pool
so fast that two Python frames show in its cost (psycopg_pool) may override
``acquire``/``release`` instead of ``_acquire``/``_release``, keeping the
same bookkeeping. Who holds which connection is the :class:`~django_multipool.
ledger.Ledger`'s to record, for every adapter alike. Adapters never import
Django or each other.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from time import monotonic
from typing import Any, ClassVar

from ._janitor import _deferred, janitor, run_deferred
from .config import PoolConfig
from .errors import ConnectRefused, PoolConfigError, PoolTimeout
from .ledger import Ledger
from .parking import ParkingSpot
from .timings import Sink, Timings

__all__ = ["ConnectionSetup", "Counters", "PoolAdapter", "PoolStats"]

logger = logging.getLogger("django_multipool")

#: Called with a new physical connection, once, before anybody uses it; and
#: again after a ``reset="session"`` wiped its session state.
ConnectionSetup = Callable[[Any], None]


@dataclasses.dataclass(frozen=True, slots=True)
class PoolStats:
    """A point-in-time view of a pool. Same keys on every vendor.

    Gauges describe the pool now; counters count since the pool was opened.
    The vocabulary is psycopg_pool's ``get_stats()``.
    """

    pool_min: int
    pool_max: int
    #: Connections open or being opened (idle + in use + connecting).
    pool_size: int
    #: Idle connections ready to be handed out, parked ones included.
    pool_available: int
    #: Acquirers waiting right now.
    requests_waiting: int
    #: Acquire calls (not a statement taking back its parked connection).
    requests_num: int = 0
    #: Acquire calls that had to wait.
    requests_queued: int = 0
    #: Total time spent waiting in acquire, in ms.
    requests_wait_ms: int = 0
    #: Acquire calls that failed (timeout, queue full).
    requests_errors: int = 0
    #: Connections opened.
    connections_num: int = 0
    #: Failed connection attempts.
    connections_errors: int = 0
    #: Connections found broken by a check, or returned broken.
    connections_lost: int = 0
    #: Total time connections were held by their borrowers, in ms.
    usage_ms: int = 0
    #: Checkouts held longer than ``leak_timeout`` (each warned about once).
    leaks_detected: int = 0
    #: Connections taken back from borrowers whose thread had died.
    leaks_reclaimed: int = 0

    @property
    def in_use(self) -> int:
        return self.pool_size - self.pool_available

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(slots=True)
class Counters:
    """PoolStats' counters, for pools whose driver does not keep them.

    Not thread-safe by itself: update it under the owning pool's lock.
    """

    requests_num: int = 0
    requests_queued: int = 0
    requests_wait_s: float = 0.0
    requests_errors: int = 0
    connections_num: int = 0
    connections_errors: int = 0
    connections_lost: int = 0

    def stats(
        self, config: PoolConfig, *, size: int, available: int, waiting: int, usage_ms: int
    ) -> PoolStats:
        return PoolStats(
            pool_min=config.min_size,
            pool_max=config.max_size,
            pool_size=size,
            pool_available=available,
            requests_waiting=waiting,
            requests_num=self.requests_num,
            requests_queued=self.requests_queued,
            requests_wait_ms=int(self.requests_wait_s * 1000),
            requests_errors=self.requests_errors,
            connections_num=self.connections_num,
            connections_errors=self.connections_errors,
            connections_lost=self.connections_lost,
            usage_ms=usage_ms,
        )


class PoolAdapter(ABC):
    """One driver pool behind the shared interface. Thread-safe."""

    #: Vendor name as used in ENGINE paths, docs and stats ("postgresql", ...).
    vendor: ClassVar[str]
    #: Whether ``reset="session"`` wipes the server session and keeps it (True),
    #: or ends it and opens a new one (False: costs a connect per checkout).
    resets_session_in_place: ClassVar[bool] = True
    #: ``driver_options`` keys the adapter sets itself, each with the shared
    #: option that sets it, or the sentence that says what does; accepting
    #: them again would let two values for one knob disagree.
    reserved_driver_options: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        config: PoolConfig,
        *,
        name: str,
        connect_kwargs: Mapping[str, Any],
        setup: ConnectionSetup | None = None,
        label: str = "",
    ) -> None:
        """Create (but do not open) a pool.

        ``connect_kwargs`` go to the driver's connect function; ``setup`` runs
        once per physical connection; ``label`` describes the server for logs
        and ``repr`` and must hold no secret.
        """
        for key, shared in self.reserved_driver_options.items():
            if key in config.driver_options:
                where = f"OPTIONS['pool']['driver_options'][{key!r}]"
                if shared in PoolConfig.keys():  # noqa: SIM118 - a classmethod, not a dict
                    raise PoolConfigError(
                        f"{where} is set by django-multipool from the shared option "
                        f"{shared!r}: set OPTIONS['pool'][{shared!r}] instead."
                    )
                raise PoolConfigError(f"{where} is set by django-multipool. {shared}")
        self.config = config
        self.name = name
        self.label = label
        self._setup = setup
        self._connect_kwargs = connect_kwargs
        self._timeout = config.timeout
        # Reclaimed connections are closed through _discard(), never reused.
        self._ledger = Ledger(name, leak_timeout=config.leak_timeout, reclaim=self._discard)
        self._build()
        janitor.watch(self._ledger)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.name!r} {self.label} ({state})>"

    # -- public, final ---------------------------------------------------------

    def open(self, wait: bool = False) -> None:
        """Start the pool; with ``wait``, block until ``min_size`` connections exist."""
        self._open(wait)

    def close(self, timeout: float = 5.0) -> None:
        """Close idle connections now; connections in use close when released."""
        self._close(timeout)
        if not len(self._ledger):
            # Loans still out stay watched: a dropped borrower's is reclaimed.
            janitor.unwatch(self._ledger)

    def acquire(self, timeout: float | None = None, owner: Any = None) -> Any:
        """Return a connection, waiting up to ``timeout`` (default: the config's).

        ``owner`` is the borrower (a Django wrapper), watched weakly: if it is
        garbage-collected without giving the connection back, the pool takes
        the connection back and closes it (see :mod:`django_multipool.ledger`).

        Raise :class:`PoolTimeout` after the wait, :class:`TooManyRequests` at
        once when ``max_waiting`` acquirers already wait, :class:`PoolClosed`
        if the pool is closed.
        """
        if _deferred:
            run_deferred()
        wait = self._timeout if timeout is None else timeout
        timings = self._ledger.timings
        started = monotonic() if timings is not None else 0.0
        try:
            conn = self._acquire(wait)
        except ConnectRefused:
            raise  # the server refused: no slot coming back would help
        except PoolTimeout:
            # At the latest now, a slot held by a borrower that no longer
            # exists comes back: then this caller gets a second wait.
            if not self._ledger.reclaim_dropped(collect=True):
                raise
            conn = self._acquire(wait)
        if timings is not None:
            timings.waits.append(monotonic() - started)
        self._ledger.lend(conn, owner)
        return conn

    def release(self, conn: Any) -> None:
        """Give back a connection; the adapter resets it as ``config.reset`` says.

        Raise ``NotLent`` (a ValueError) for a connection this pool has not lent.
        """
        if self._ledger.end(conn):
            self._release(conn)

    def discard(self, conn: Any) -> None:
        """Close a connection known to be broken; the pool replaces it."""
        if self._ledger.end(conn):
            self._discard(conn)

    # -- parking (release="transaction"; see django_multipool.parking) ----------------

    #: Whether this adapter parks. Adapters that implement ``_park`` and
    #: ``_retake`` say True; one may turn it off per pool in ``_build`` (or a
    #: benchmark per instance), and ``park()`` then releases.
    parks: bool = False

    def park(self, spot: ParkingSpot, conn: Any) -> None:
        """Give back a lent connection, keeping it at ``spot`` if the pool allows.

        A parked connection counts as returned: it is available to anybody
        who finds the pool empty, and ``spot``'s borrower takes it back with
        :meth:`retake` unless somebody did. Connections that need work on
        return (an open transaction, ``reset="session"``, past
        ``max_lifetime``), or that a waiter could take now, are released.
        """
        if not self.parks:
            self.release(conn)
            return
        now = monotonic()
        if not self._ledger.end(conn, now):
            return  # reclaimed meanwhile: closed already
        if self._park(spot, conn, now):
            spot.adapter = self
        else:
            self._release(conn)

    def retake(self, spot: ParkingSpot, owner: Any = None) -> Any | None:
        """The connection parked at ``spot``, lent again (to ``owner``, as in
        :meth:`acquire`); None if it was taken or retired.

        What ``acquire()`` checks, a retaken connection gets too: one idle
        for ``check`` seconds or more is checked (and None returned if it
        fails). Anything else is as its borrower left it: same session, no I/O.
        """
        now = monotonic()
        conn = self._retake(spot, now)
        if conn is not None:
            self._ledger.lend(conn, owner, now)
        return conn

    def release_parked(self, spot: ParkingSpot) -> None:  # noqa: B027 - nothing parks by default
        """Put a connection parked at ``spot`` through the pool's own return path."""

    @property
    def parked(self) -> int:
        """Connections parked between their borrower's statements (part of ``pool_available``)."""
        return 0

    def _park(self, spot: ParkingSpot, conn: Any, now: float) -> bool:
        """Keep ``conn``, returned to the ledger already, at ``spot``; False to release it.

        No I/O. False when returning it would send something (a reset), it
        is past ``max_lifetime``, or somebody waits for a connection.
        """
        return False

    def _retake(self, spot: ParkingSpot, now: float) -> Any | None:
        """Pop what is parked at ``spot``, checked as ``check`` says; None if gone."""
        return None

    def record_timings(self, sink: Sink) -> None:
        """Gather each checkout's wait, each loan's length and each connect's time for ``sink``.

        ``sink(kind, seconds)`` is called by the janitor, about once a second,
        with a kind of :data:`~django_multipool.timings.KINDS` and the
        durations gathered since (contrib.otel's histograms). Off until
        called: a pool nobody records for appends nothing.
        """
        timings = self._ledger.timings
        if timings is None:
            timings = Timings()
            self._time_connects(timings.connects.append)
            self._ledger.timings = timings
        timings.sinks.append(sink)

    def _time_connects(self, record: Callable[[float], None]) -> None:  # noqa: B027
        """Have the pool call ``record(seconds)`` for each connection it opens.

        The default does nothing: a driver pool that opens connections out
        of sight (python-oracledb) has no such figure.
        """

    def stats(self) -> PoolStats:
        ledger = self._ledger
        stats = self._stats(usage_ms=int(ledger.usage_s * 1000))
        if not (ledger.detected or ledger.reclaimed):
            return stats
        return dataclasses.replace(
            stats, leaks_detected=ledger.detected, leaks_reclaimed=ledger.reclaimed
        )

    @property
    def checked_out(self) -> int:
        """Connections handed out by this adapter and not yet given back."""
        return len(self._ledger)

    @abstractmethod
    def holds_transaction(self, conn: Any) -> bool:
        """Whether ``conn``'s session has a transaction open, as its driver knows. No I/O.

        ``release="transaction"`` keeps a connection while this is true (a
        transaction opened with SQL, not ``atomic()``); giving it back would
        roll the transaction back.
        """

    @property
    @abstractmethod
    def closed(self) -> bool: ...

    # -- hooks for subclasses ----------------------------------------------------

    @abstractmethod
    def _build(self) -> None:
        """Create the driver's pool, not opened yet; runs at the end of ``__init__``.

        It reads ``self.config``, ``self.name``, ``self._connect_kwargs`` and
        ``self._setup``, and may raise PoolConfigError for options its driver
        cannot honour.
        """

    @abstractmethod
    def _open(self, wait: bool) -> None: ...

    @abstractmethod
    def _close(self, timeout: float) -> None: ...

    def _acquire(self, timeout: float) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _acquire or acquire")

    def _release(self, conn: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _release or release")

    @abstractmethod
    def _discard(self, conn: Any) -> None: ...

    @abstractmethod
    def _stats(self, usage_ms: int) -> PoolStats: ...

    def _forget_after_fork(self) -> None:  # noqa: B027 - deliberate no-op default
        """Called in a forked child: drop the parent's pool without any I/O.

        The default does nothing, which is right for drivers whose connection
        finalisers check the PID (psycopg). Override where a finaliser would
        talk to the server or shut a shared socket down.
        """
