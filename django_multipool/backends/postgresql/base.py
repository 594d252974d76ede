"""PostgreSQL backend whose connections come from a psycopg_pool pool."""

from __future__ import annotations

# First: a Django release without a name used here fails with the fix.
from . import _privates  # noqa: F401  # isort: skip

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base, creation
from django.db.backends.postgresql.psycopg_any import (
    IsolationLevel,
    is_psycopg3,
    register_tzloader,
)

from ...adapter import ConnectionSetup
from ...adapters.psycopg import PsycopgPoolAdapter
from ..cursors import counted
from ..mixins import PooledDatabaseCreationMixin, PooledDatabaseWrapperMixin
from .features import DatabaseFeatures

if not is_psycopg3:
    raise ImproperlyConfigured(
        "django_multipool.backends.postgresql needs psycopg 3 "
        "(pip install 'django-multipool[postgresql]'); psycopg2 has no pool to build on."
    )

from psycopg import sql
from psycopg.pq import Format


class DatabaseCreation(PooledDatabaseCreationMixin, creation.DatabaseCreation):
    pass


class DatabaseWrapper(PooledDatabaseWrapperMixin, base.DatabaseWrapper):
    pool_adapter_class = PsycopgPoolAdapter
    creation_class = DatabaseCreation
    features_class = DatabaseFeatures

    def pool_connect_kwargs(self) -> dict[str, Any]:
        params = super().pool_connect_kwargs()
        # libpq sends the fallback only when nothing else names the session
        # (OPTIONS["application_name"], PGAPPNAME, a service file): the
        # user's own name wins, as docs/vendors/postgresql.md says.
        params.setdefault("fallback_application_name", self.pool_identity().text())
        return params

    def pool_connection_setup(self) -> ConnectionSetup:
        # Django's _configure_connection, captured as values: the time zone
        # and role are part of the pool's key, so they cannot change under it.
        timezone_name = self.timezone_name
        set_time_zone = self.ops.set_time_zone_sql()
        role = self.settings_dict["OPTIONS"].get("assume_role")

        def setup(connection: Any) -> None:
            if timezone_name and connection.info.parameter_status("TimeZone") != timezone_name:
                connection.execute(set_time_zone, [timezone_name])
            if role:
                connection.execute(sql.SQL("SET ROLE {}").format(sql.Literal(role)))
            # Cursors that report when they close (release="transaction"),
            # subclassing whatever factory the connection was opened with:
            # Django's, or an instrumented subclass of it (OpenTelemetry).
            connection.cursor_factory = counted(connection.cursor_factory)

        return setup

    def create_cursor(self, name: Any = None) -> Any:
        if not name or self._pool_adapter is None:
            return super().create_cursor(name)
        # Django's named branch, with the class it would build made counted.
        # Chosen from the settings now, as Django does (a test may change them
        # while a connection of the pool built before is held).
        connection = self.connection
        if self.settings_dict["OPTIONS"].get("server_side_binding") is True:
            server_cursor = connection.server_cursor_factory
        else:
            server_cursor = base.ServerSideCursor
        cursor = counted(server_cursor)(
            connection, name=name, scrollable=False, withhold=connection.autocommit
        )
        tzloader = connection.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT)
        if self.timezone != tzloader.timezone:
            register_tzloader(self.timezone, cursor)
        return cursor

    def _set_autocommit(self, autocommit: bool) -> None:
        # psycopg's setter takes the connection's lock and runs a generator
        # even when nothing changes; connect() and release="transaction"'s
        # re-lease call this on every checkout. The flag is psycopg's own cache.
        if self.connection.autocommit is autocommit:
            return
        super()._set_autocommit(autocommit)  # type: ignore[misc]  # not in django-stubs

    def prepare_pooled_connection(self, connection: Any) -> None:
        # What Django's get_new_connection() does besides connecting.
        level = self.settings_dict["OPTIONS"].get("isolation_level")
        if level is None:
            self.isolation_level = IsolationLevel.READ_COMMITTED
            return
        try:
            self.isolation_level = IsolationLevel(level)
        except ValueError:
            raise ImproperlyConfigured(
                f"Invalid transaction isolation level {level} specified. "
                f"Use one of the psycopg.IsolationLevel values."
            ) from None
        connection.isolation_level = self.isolation_level
