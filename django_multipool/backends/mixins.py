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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db.backends.base.base import NO_DB_ALIAS
from django.utils.functional import cached_property

from ..adapter import ConnectionSetup, PoolAdapter
from ..config import PoolConfig
from .registry import registry, wrappers

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

    def prepare_pooled_connection(self, connection: Any) -> None:
        """Per-checkout work Django's own get_new_connection() would do (no I/O)."""

    # -- Django's connection life cycle ------------------------------------------

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not self.pool_enabled:
            return super().get_new_connection(conn_params)
        adapter = self.pool
        assert adapter is not None
        connection = adapter.acquire()
        self._pool_adapter = adapter
        self.prepare_pooled_connection(connection)
        return connection

    def _close(self) -> None:
        adapter = self._pool_adapter
        if adapter is None or self.connection is None:
            super()._close()  # type: ignore[misc]  # not in django-stubs
            return
        connection, self.connection, self._pool_adapter = self.connection, None, None
        with self.wrap_database_errors:
            adapter.release(connection)

    def close_if_health_check_failed(self) -> None:
        if self._pool_adapter is not None:
            # The pool validates on checkout as OPTIONS["pool"]["check"] says;
            # a connection held by this thread was validated then.
            return
        super().close_if_health_check_failed()

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
        return self.pool_adapter_class(
            config,
            name=config.pool_name(self.alias),
            connect_kwargs=self.pool_connect_kwargs(),
            setup=self.pool_connection_setup(),
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
    """Declare the Django tests that cannot apply to a pooled connection."""

    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:  # type: ignore[override]
        skips: dict[str, set[str]] = dict(super().django_test_skips)
        if getattr(self.connection, "pool_enabled", False):
            skips.setdefault("The pool validates connections on checkout", set()).update(
                {
                    "backends.base.test_base.ConnectionHealthChecksTests."
                    "test_health_checks_enabled",
                    "backends.base.test_base.ConnectionHealthChecksTests."
                    "test_set_autocommit_health_checks_enabled",
                }
            )
        return skips
