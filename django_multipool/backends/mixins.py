"""The Django side of pooling, shared by every vendor backend.

``PooledDatabaseWrapperMixin`` takes over each place where Django's own
wrappers talk to a pool (Django 5.1+ calls them ``pool``, ``close_pool()``,
``get_new_connection()``, ``_close()``, ``close_if_health_check_failed()``)
and routes them to a :class:`~django_multipool.adapter.PoolAdapter` held in
the process-wide :mod:`registry <django_multipool.backends.registry>`.
``tests/unit/test_django_tripwire.py`` fails when a Django release adds a
call site this list does not cover.

What differs from Django's built-in pools, on purpose:

- Pools are keyed by the effective connection settings, not only the alias,
  so a pool opened before ``create_test_db()`` never serves the test run.
- ``fork()`` is safe: a child drops inherited pools and connections unused.
- A connection goes back to the pool it came from, even if that pool was
  retired meanwhile (it is then closed).
- With ``OPTIONS["pool"]["release"] = "transaction"`` a wrapper gives its
  connection back as soon as nothing needs it (no transaction, no open
  cursor, no ``pinned()`` block) and takes one again, cheaply, at the next
  statement: see docs/release-modes.md.
"""

from __future__ import annotations

# First: a Django release without a name used here fails with the fix.
from . import _privates  # noqa: F401  # isort: skip

import logging
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db.backends.base.base import NO_DB_ALIAS
from django.utils.asyncio import async_unsafe
from django.utils.functional import cached_property

from .._configure import compose_setup
from .._janitor import defer
from ..adapter import ConnectionSetup, PoolAdapter
from ..config import PoolConfig
from ..errors import PoolClosed, PoolConfigError, SessionStateError
from ..identity import PoolIdentity
from ..parking import ParkingSpot
from .cursors import CountedCursor
from .registry import registry, wrappers
from .session_state import call_site, detector_for

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    _WrapperBase = BaseDatabaseWrapper
    from django.db.backends.base.creation import BaseDatabaseCreation

    _CreationBase = BaseDatabaseCreation
    from django.db.backends.base.features import BaseDatabaseFeatures

    _FeaturesBase = BaseDatabaseFeatures
else:
    _WrapperBase = _CreationBase = _FeaturesBase = object

__all__ = [
    "PooledDatabaseCreationMixin",
    "PooledDatabaseFeaturesMixin",
    "PooledDatabaseWrapperMixin",
]

logger = logging.getLogger("django_multipool")

# Call sites already warned about (one WARNING per site, per process).
_warned_sites: set[tuple[str, int, str]] = set()


class PooledDatabaseWrapperMixin(_WrapperBase):
    """Serve a DatabaseWrapper's connections from a pool.

    A vendor backend sets :attr:`pool_adapter_class` and may override
    :meth:`pool_connection_setup` and :meth:`prepare_pooled_connection`.
    """

    pool_adapter_class: ClassVar[type[PoolAdapter]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The pool self.connection was taken from; it goes back there.
        self._pool_adapter: PoolAdapter | None = None
        # release="transaction" bookkeeping (docs/release-modes.md). Whether
        # this session releases per statement; read from the pool's config at
        # each connect(), so request mode's only cost is this flag's checks.
        self._release_per_statement = False
        # OPTIONS["pool"]["behind"] = "pgbouncer-transaction": a pooler lends
        # a server session per transaction, so every statement that leaves
        # session state is refused, in both release modes. Read at connect().
        self._refuse_session_state = False
        # Set while the session is logically connected but its connection is
        # back in this pool: ensure_connection() leases again from it.
        self._released_to: PoolAdapter | None = None
        # Driver cursors made and not closed yet in this session (counted by
        # backends.cursors); each one knows the generation it was counted in,
        # so that a cursor closed after close() ended its session does not
        # decrement the next session's count.
        self._open_cursors = 0
        self._cursor_generation = 0
        # Depth of pinned() blocks on this wrapper.
        self._pins = 0
        # Why the session keeps its connection until close() although nothing
        # above holds it (it created session state); None = nothing.
        self._held_for: str | None = None
        # Where a transaction Django did not open (raw BEGIN) was first seen.
        self._raw_transaction_site: tuple[str, int, str] | None = None
        self._detect_session_state = detector_for(self.vendor)
        # Where the pool keeps this session's connection between statements,
        # for its next statement to take back without a checkout (adapters
        # that can: PoolAdapter.park()). A wrapper dropped with a connection
        # parked (its thread ended mid-session) gives it back to the pool:
        # later, by the janitor or the next checkout, since the finaliser
        # runs wherever the garbage collector does, maybe under a pool's lock.
        self._parking = ParkingSpot()
        weakref.finalize(self, defer, self._parking.vacate).atexit = False
        # A plain weak reference to itself, kept: the pool's ledger watches
        # this wrapper with weakref.ref(self), which then returns this one
        # instead of making a new one at every checkout.
        self._self_ref = weakref.ref(self)
        wrappers.add(self)

    # -- what Django's own pooled wrappers expose ------------------------------

    @property
    def pool_enabled(self) -> bool:
        return self.alias != NO_DB_ALIAS and self.settings_dict["OPTIONS"].get("pool") is not False

    @property
    def pool(self) -> PoolAdapter | None:
        """The pool serving this alias, created on first use; None when pooling is off."""
        if self._pool_adapter is not None and self.connection is not None:
            return self._pool_adapter
        if not self.pool_enabled:
            return None
        return registry.get(
            self.alias, self._pool_key(), self.settings_dict["NAME"] or "", self._build_pool
        )

    def close_pool(self) -> None:
        registry.close(self.alias)

    @property
    def pool_config(self) -> PoolConfig:
        """The alias's parsed ``OPTIONS["pool"]``; raises PoolConfigError if wrong."""
        s = self.settings_dict
        return PoolConfig.from_options(
            s["OPTIONS"].get("pool", True),
            alias=self.alias,
            conn_max_age=s["CONN_MAX_AGE"],
            health_checks=s["CONN_HEALTH_CHECKS"],
        )

    # -- hooks for vendor backends ---------------------------------------------------

    def pool_connection_setup(self) -> ConnectionSetup | None:
        """Return what to run once on each new physical connection.

        It must not hold a reference to this wrapper: the pool outlives the
        thread that created it.
        """
        return None

    def pool_connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the driver's connect(), as Django computes them."""
        params: dict[str, Any] = self.get_connection_params()
        params.pop("pool", None)
        return params

    def pool_identity(self) -> PoolIdentity:
        """Whose the pool's sessions are, as the vendor backends tell the server.

        Called while the pool is built (from :meth:`pool_connect_kwargs`), in
        the process that builds it: a forked child's pool names its own pid.
        """
        config = self.pool_config
        return PoolIdentity.of_this_process(config.pool_name(self.alias), config.max_size)

    def prepare_pooled_connection(self, connection: Any) -> None:
        """Per-checkout work Django's own get_new_connection() would do (no I/O)."""

    # -- Django's connection life cycle ------------------------------------------

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not self.pool_enabled:
            return super().get_new_connection(conn_params)
        adapter = self.pool
        assert adapter is not None
        # This wrapper is the borrower: if it is garbage-collected holding
        # the connection, the pool takes it back (django_multipool.ledger).
        connection = adapter.acquire(owner=self)
        self._pool_adapter = adapter
        self.prepare_pooled_connection(connection)
        return connection

    def _close(self) -> None:
        adapter = self._pool_adapter
        if adapter is None or self.connection is None:
            super()._close()  # type: ignore[misc]  # not in django-stubs
            return
        connection, self.connection, self._pool_adapter = self.connection, None, None
        if self.autocommit and not self.in_atomic_block and adapter.holds_transaction(connection):
            self._warn_raw_rollback()
        self._raw_transaction_site = None
        with self.wrap_database_errors:
            adapter.release(connection)

    def _warn_raw_rollback(self) -> None:
        # Django believes the session is in autocommit mode and outside any
        # atomic(): the transaction was opened with SQL (BEGIN, START
        # TRANSACTION, SET autocommit = 0), and the pool's return path rolls
        # it back, as closing an unpooled connection would. Not silently.
        site = self._raw_transaction_site
        where = f", opened at {site[0]}:{site[1]} in {site[2]}()" if site else ""
        logger.warning(
            "database %r: rolling back a transaction that Django did not open (raw SQL%s) "
            "as the connection goes back to the pool; commit it, or use "
            "transaction.atomic()",
            self.alias,
            where,
        )

    def connect(self) -> None:
        # Reached through Django's ensure_connection() (not overridden: a
        # backend's own ensure_connection() would break code that patches
        # Django's, e.g. Django's test_utils tests). A session that released
        # its connection between statements takes one again, cheaply.
        if self._released_to is not None:
            self._lease_again(self._released_to)
            return
        # Not releasing while connect() runs (its set_autocommit() would):
        # init_connection_state() and connection_created receivers get the
        # connection they expect. The session's mode is its pool's.
        self._release_per_statement = False
        self._refuse_session_state = False
        super().connect()
        adapter = self._pool_adapter
        self._release_per_statement = (
            adapter is not None and adapter.config.release == "transaction"
        )
        self._refuse_session_state = (
            adapter is not None
            and adapter.config.behind is not None
            and self._detect_session_state is not None
        )

    @async_unsafe
    def close(self) -> None:
        # Ends the session: the next statement goes through connect() again
        # (connection_created, init_connection_state), as in request mode.
        # A connection still parked goes back through the pool's return path.
        self._released_to = None
        self._held_for = None
        self._parking.vacate()
        if self._open_cursors:
            # Cursors left open (never closed, or garbage) end with the session.
            self._open_cursors = 0
            self._cursor_generation += 1
        super().close()

    def close_if_unusable_or_obsolete(self) -> None:
        # Django closes a connection past CONN_MAX_AGE here, at every request's
        # start and end; a pool needs CONN_MAX_AGE = 0, so that is every time.
        # A released session ends the same way, so that each request starts
        # with a full connect() as in request mode. Django would close a held
        # one too, but after an error it first asks is_usable(), a round trip
        # that a stalled server never answers, in the thread ending the
        # request; the pool deals with a broken connection when it comes back
        # (bounded).
        if self._pool_adapter is not None or self._released_to is not None:
            self.health_check_done = False
            self.close()
            return
        super().close_if_unusable_or_obsolete()

    def is_usable(self) -> bool:
        # A connection given back to the pool (_close(), or released between
        # statements) is not this wrapper's to test; Django's MySQL and
        # Oracle versions would call ping() on None (Django's
        # backends.tests.BackendTestCase.test_is_usable_after_database_disconnects).
        if self.connection is None:
            return False
        return bool(super().is_usable())

    def get_autocommit(self) -> bool:
        if self.connection is None and self._released_to is not None:
            # Connections are only released in autocommit mode: no need to
            # take one to answer (atomic() asks before it begins).
            return self.autocommit
        return bool(super().get_autocommit())

    def set_autocommit(
        self, autocommit: bool, force_begin_transaction_with_broken_autocommit: bool = False
    ) -> None:
        # atomic() ends here (and runs on_commit callbacks in here, after the
        # commit): the transaction no longer needs the connection.
        super().set_autocommit(autocommit, force_begin_transaction_with_broken_autocommit)
        if autocommit and self._release_per_statement:
            self._release_if_idle()

    # Django hands every driver cursor create_cursor() made to one of these
    # two, whatever wraps the result later (debug toolbars, tracers).

    def make_cursor(self, cursor: Any) -> Any:
        if self._release_per_statement or self._refuse_session_state:
            self._count_cursor(cursor)
        return super().make_cursor(cursor)

    def make_debug_cursor(self, cursor: Any) -> Any:
        if self._release_per_statement or self._refuse_session_state:
            self._count_cursor(cursor)
        return super().make_debug_cursor(cursor)

    def close_if_health_check_failed(self) -> None:
        # Django calls this first thing in _cursor() and set_autocommit(),
        # right before ensure_connection(). The pool validates on checkout as
        # OPTIONS["pool"]["check"] says; a connection held by this thread was
        # validated then. (Django's PostgreSQL version would look the pool up
        # on every statement.)
        released_to = self._released_to
        if released_to is not None:
            # release="transaction", between statements: the connection this
            # session parked, taken back here (checked if idle long enough)
            # makes ensure_connection() a no-op. That skips a connect(), and
            # Django's error wrapper around it, on every statement; retake()
            # raises no driver error to wrap. If it was taken, connect()
            # leases another.
            self._take_back_parked(released_to)
            return
        if self._pool_adapter is not None:
            return
        super().close_if_health_check_failed()

    # -- release="transaction" ----------------------------------------------------

    def _release_if_idle(self) -> None:
        """Give the connection back if nothing in this session needs it."""
        if (
            self._open_cursors
            or self._pins
            or self._held_for is not None
            or self.in_atomic_block
            or not self.autocommit
            or self.connection is None
            or self._pool_adapter is None
            or not self._release_per_statement
        ):
            return
        if self._pool_adapter.holds_transaction(self.connection):
            # A transaction opened with SQL (BEGIN) is open: giving the
            # connection back would roll it back. Held, as inside atomic(),
            # until it ends (COMMIT) or the session does.
            if self._raw_transaction_site is None:
                self._raw_transaction_site = call_site()
            return
        self._raw_transaction_site = None
        # After this line nothing may touch the connection: it belongs to
        # whoever the pool hands it to next. Django only uses self.connection
        # after ensure_connection() (cursors, set_autocommit) or behind a
        # None check (is_usable via close_if_unusable_or_obsolete, _commit,
        # _rollback, _close), so None is all it needs to see.
        connection, adapter = self.connection, self._pool_adapter
        self.connection = self._pool_adapter = None
        self._released_to = adapter
        try:
            if self.errors_occurred:
                # Maybe broken: the pool's return path tests it (Django
                # clears the flag at the session's next connect()).
                adapter.release(connection)
            else:
                adapter.park(self._parking, connection)
        except Exception:
            # Django's error classes, as `with wrap_database_errors` would give;
            # entering it only on failure keeps it off every statement's path.
            with self.wrap_database_errors:
                raise

    def _take_back_parked(self, adapter: PoolAdapter) -> bool:
        """Hold again the connection this session parked, unless somebody took it.

        It is exactly as the session's last statement left it (autocommit, no
        transaction, prepared by prepare_pooled_connection()): nothing to redo.
        """
        connection = adapter.retake(self._parking, self)
        if connection is None:
            return False
        self._released_to = None
        self.connection, self._pool_adapter = connection, adapter
        return True

    def _lease_again(self, adapter: PoolAdapter) -> None:
        """Take a connection for a session that released its own.

        Not Django's connect(): the session's settings were checked, its
        connection_created signal sent and init_connection_state() run (the
        per-connection part of which every vendor does in the pool's setup
        callback) at its first checkout. What is left is what Django's
        get_new_connection() does to each connection, without I/O. Driver
        errors are wrapped by ensure_connection(), the caller of connect().
        """
        if self._take_back_parked(adapter):
            # (Statements take it back earlier: close_if_health_check_failed.)
            return
        try:
            connection = adapter.acquire(owner=self)
        except PoolClosed:
            # Retired meanwhile (settings changed, test database dropped):
            # a new session, through Django's connect().
            self._released_to = None
            self.connect()
            return
        self._released_to = None
        self.connection, self._pool_adapter = connection, adapter
        try:
            self.prepare_pooled_connection(connection)
            # Released connections are in autocommit mode, but one closed
            # inside a transaction by another wrapper may not be. No I/O:
            # our PostgreSQL and MySQL backends return at once when the
            # driver's cached flag already says so; python-oracledb's is an
            # attribute.
            self._set_autocommit(True)  # type: ignore[attr-defined]  # not in django-stubs
        except BaseException:
            self._close()
            raise

    def _count_cursor(self, cursor: Any) -> None:
        if isinstance(cursor, CountedCursor):
            cursor._multipool_counted = (self, self._cursor_generation)
            self._open_cursors += 1
            return
        if not self._release_per_statement:
            return  # behind a pooler only: nothing to hold, statements go unchecked
        # A cursor whose close() we cannot see (a create_cursor() that
        # returns another class): keep the connection rather than guess.
        self._hold(f"its cursor class {type(cursor).__qualname__} does not report its close()")

    def _check_session_state(self, sql: Any) -> None:
        """Before a statement of a counted cursor: does it leave state in the session?"""
        detect = self._detect_session_state
        if self._refuse_session_state and detect is not None:
            self._refuse_behind_pooler(detect(sql))
        if (
            detect is None
            or self._held_for is not None
            or self._pins
            or self.in_atomic_block
            or not self.autocommit
        ):
            return
        statement = detect(sql)
        if statement is None:
            return
        adapter = self._pool_adapter
        if adapter is not None and adapter.config.session_state == "error":
            raise SessionStateError(
                f"database {self.alias!r} gives its connection back after every statement "
                f"(OPTIONS['pool']['release'] = 'transaction'), so the session state that "
                f"{statement!r} creates would be lost, or reach another request. Run it inside "
                f"django_multipool.pinned() with the statements that need it, use SET LOCAL "
                f"inside transaction.atomic(), or set OPTIONS['pool']['session_state'] = "
                f"'hold' to keep the connection until the request ends."
            )
        self._hold(f"{statement!r} creates session state")

    def _refuse_behind_pooler(self, statement: str | None) -> None:
        # Inside atomic() and pinned() too: the pooler's server session is
        # this client's only until the transaction ends, and what a
        # statement leaves in it (a SET lasts past COMMIT) reaches the next
        # client the pooler lends it to.
        if statement is None:
            return
        raise SessionStateError(
            f"database {self.alias!r} is behind a transaction pooler (OPTIONS['pool']['behind'] "
            f"= 'pgbouncer-transaction'), which lends each transaction another server session: "
            f"the session state that {statement!r} creates would be lost, or reach another "
            f"client. Use SET LOCAL (or set_config(..., true)) inside transaction.atomic(), "
            f"transaction-level advisory locks (pg_advisory_xact_lock), or give this work an "
            f"alias that connects to PostgreSQL directly or to PgBouncer in session mode."
        )

    def _hold(self, why: str) -> None:
        """Keep this session's connection until close(); one WARNING per call site."""
        self._held_for = why
        site = call_site()
        if site in _warned_sites:
            return
        _warned_sites.add(site)
        logger.warning(
            "database %r: %s at %s:%d in %s(); with release='transaction' the session keeps "
            "its connection until the request ends (as in release='request'), so the pool "
            "serves fewer concurrent statements. Use django_multipool.pinned() around the "
            "statements that need it, or OPTIONS['pool']['session_state'] = 'error' to refuse "
            "such statements.",
            self.alias,
            why,
            *site,
        )

    def _cursor_closed(self, generation: int) -> None:
        if generation != self._cursor_generation:
            return  # counted in a session that has ended
        self._open_cursors -= 1
        if not self._open_cursors:
            self._release_if_idle()

    def _pin(self) -> None:
        self._pins += 1

    def _unpin(self) -> None:
        self._pins -= 1
        if not self._pins:
            self._release_if_idle()

    # -- internals -----------------------------------------------------------------

    def _pool_key(self) -> tuple[Any, ...]:
        # Compared with ==, on every checkout, against a snapshot the registry
        # took when it built the pool: the live OPTIONS dict goes in as is.
        s = self.settings_dict
        return (
            s["NAME"],
            s["USER"],
            s["PASSWORD"],
            s["HOST"],
            s["PORT"],
            s["OPTIONS"],
            self.timezone_name,
            settings.USE_TZ,
        )

    def _build_pool(self) -> PoolAdapter:
        config = self.pool_config
        if config.behind is not None and self.vendor != "postgresql":
            raise PoolConfigError(
                f"DATABASES[{self.alias!r}]['OPTIONS']['pool']['behind'] is "
                f"{config.behind!r}, a PostgreSQL pooler, but this is a {self.vendor} "
                f"database. Remove 'behind'."
            )
        name = config.pool_name(self.alias)
        # The backend's setup, then OPTIONS["pool"]["configure"] (imported here).
        setup = compose_setup(
            self.pool_connection_setup(), config, alias=self.alias, pool_name=name
        )
        return self.pool_adapter_class(
            config,
            name=name,
            connect_kwargs=self.pool_connect_kwargs(),
            setup=setup,
            label=self.pool_label(),
        )

    def pool_label(self) -> str:
        """Where the pool connects, for logs and repr; never the password."""
        s = self.settings_dict
        host = s["HOST"] or "localhost"
        port = f":{s['PORT']}" if s["PORT"] else ""
        user = f"{s['USER']}@" if s["USER"] else ""
        return f"{self.vendor}://{user}{host}{port}/{s['NAME'] or ''}"

    def _forget_inherited_connection(self) -> None:
        """In a forked child: drop the parent's connection without closing it."""
        if self.connection is None:
            return
        # Closing would end the parent's session; letting go of the object
        # does not (drivers' finalisers check the PID, or the adapter's
        # _forget_after_fork() neutralised them).
        self.connection = None
        self._pool_adapter = None
        self._released_to = None
        self._parking.adapter = None  # the parent's pool keeps what is parked there
        self._held_for = None
        self._raw_transaction_site = None
        self._open_cursors = 0
        self._cursor_generation += 1
        self.in_atomic_block = False
        self.savepoint_ids = []
        self.atomic_blocks = []
        self.needs_rollback = False
        self.run_on_commit = []


class PooledDatabaseCreationMixin(_CreationBase):
    """Close every pool on a test database before it is cloned or dropped."""

    def _clone_test_db(self, suffix: str, verbosity: int, keepdb: bool = False) -> None:
        # CREATE DATABASE ... TEMPLATE fails while any session is on the template.
        registry.close_database(self.connection.settings_dict["NAME"])
        super()._clone_test_db(suffix, verbosity, keepdb)  # type: ignore[misc]

    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        self.connection.close()
        registry.close_database(test_database_name)
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]


class PooledDatabaseFeaturesMixin(_FeaturesBase):
    """Declare the tests of Django's own suite that cannot apply to a pooled connection.

    Django's ``runtests.py`` skips what ``django_test_skips`` lists (reason →
    test labels) and marks ``django_test_expected_failures``, as it does for
    third-party backends. Ours adds, to Django's own lists for the vendor:
    :meth:`pooled_test_skips` while the pool is on, and
    :meth:`transaction_release_test_skips` too with ``release="transaction"``.
    Vendor features extend both. Only what is inherent to pooling belongs
    here, each with a one-line reason; docs/internals/django-test-suite.md
    lists them all.
    """

    def pooled_test_skips(self) -> dict[str, set[str]]:
        """Django tests that cannot apply while the pool is on, whatever the release mode."""
        return {
            "The pool validates connections on checkout (OPTIONS['pool']['check']), "
            "not per request": {
                "backends.base.test_base.ConnectionHealthChecksTests.test_health_checks_enabled",
                "backends.base.test_base.ConnectionHealthChecksTests."
                "test_set_autocommit_health_checks_enabled",
            },
            "Turns on persistent connections (CONN_MAX_AGE=None), which a pool refuses: a "
            "pooled connection goes back at every request end (Django's Oracle pool skips "
            "them too)": {
                "backends.base.test_base.ConnectionHealthChecksTests.test_health_checks_disabled",
                "backends.base.test_base.ConnectionHealthChecksTests."
                "test_health_checks_enabled_errors_occurred",
            },
        }

    def transaction_release_test_skips(self) -> dict[str, set[str]]:
        """Django tests that cannot apply with ``release="transaction"``.

        Each relies on a session outliving the statement that made it, which
        this mode does not promise (docs/release-modes.md).
        """
        return {
            "Reads connection.connection after the cursor closed; with release='transaction' "
            "it is back in the pool by then": {
                "backends.tests.ThreadTests.test_default_connection_thread_local",
            },
            "Runs a query inside a patched ensure_connection() and expects the connection to "
            "be held after that query's cursor closed; release='transaction' gives it back": {
                "test_utils.tests.AssertNumQueriesUponConnectionTests."
                "test_ignores_connection_configuration_queries",
            },
        }

    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:  # type: ignore[override]
        skips = {reason: set(tests) for reason, tests in super().django_test_skips.items()}
        if getattr(self.connection, "pool_enabled", False):
            _merge_skips(skips, self.pooled_test_skips())
            config: PoolConfig = getattr(self.connection, "pool_config")  # noqa: B009
            if config.release == "transaction":
                _merge_skips(skips, self.transaction_release_test_skips())
        return skips


def _merge_skips(into: dict[str, set[str]], skips: dict[str, set[str]]) -> None:
    for reason, tests in skips.items():
        into.setdefault(reason, set()).update(tests)
