"""MySQL/MariaDB backend: Django's own (``django.db.backends.mysql``), pooled.

The same driver (mysqlclient), the same conversions, error classes, SQL and
server detection as Django's backend (MariaDB and its real version come from
``SELECT VERSION()``, as there): only where connections come from differs.
Switching ENGINE from ``django.db.backends.mysql`` changes nothing else.

Per-checkout cost: the session setup Django would repeat on every new
connection (``SQL_AUTO_IS_NULL``, the isolation level) runs once per physical
connection, when the pool opens it; autocommit is only sent when it changes
(mysqlclient compares with the server's last status flags). A checkout and
return with default settings costs no round trip.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.mysql import base, creation

from ...adapter import ConnectionSetup
from ...adapters.mysqlclient import (
    CONNECTOR_ONLY_OPTIONS,
    MySQLclientPoolAdapter,
    abandon_connection,
)
from ..cursors import counted
from ..mixins import PooledDatabaseCreationMixin, PooledDatabaseWrapperMixin
from .features import DatabaseFeatures


class CursorWrapper(base.CursorWrapper):
    # Django's wrapper reaches close() through __getattr__, which a
    # subclass's super().close() (backends.cursors) cannot see.
    def close(self) -> Any:
        return self.cursor.close()


# Reports when it closes, for release="transaction" (backends.cursors).
CountedCursorWrapper = counted(CursorWrapper)


class DatabaseCreation(PooledDatabaseCreationMixin, creation.DatabaseCreation):
    pass


class DatabaseWrapper(PooledDatabaseWrapperMixin, base.DatabaseWrapper):
    pool_adapter_class = MySQLclientPoolAdapter
    creation_class = DatabaseCreation
    features_class = DatabaseFeatures

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params.pop("pool", None)  # ours, not a connect() argument
        for key in CONNECTOR_ONLY_OPTIONS.keys() & params.keys():
            equivalent = CONNECTOR_ONLY_OPTIONS[key]
            instead = f" (mysqlclient's equivalent: {equivalent})" if equivalent else ""
            raise ImproperlyConfigured(
                f"DATABASES[{self.alias!r}]['OPTIONS'][{key!r}] is an argument of "
                f"mysql-connector-python, but ENGINE 'django_multipool.backends.mysql' "
                f"connects with mysqlclient, as django.db.backends.mysql does{instead}. "
                f"For mysql-connector, set ENGINE to 'django_multipool.backends.mysql_connector'."
            )
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if self._pool_adapter is None:
            # For a forked child, which cannot ask a connection a thread of
            # the parent was inside of (abandon_connection).
            connection._multipool_fd = connection.fileno()
        return connection

    def pool_connect_kwargs(self) -> dict[str, Any]:
        params = super().pool_connect_kwargs()
        # Connections start in the mode Django sets on every checkout, so
        # that set_autocommit() finds nothing to change.
        params["autocommit"] = bool(self.settings_dict["AUTOCOMMIT"])
        # No identity (docs/vendors/mysql.md): mysqlclient has no way to send
        # connection attributes, and its MySQLdb.connect() refuses conn_attrs.
        return params

    def pool_connection_setup(self) -> ConnectionSetup:
        # What Django's init_connection_state() sends on every new
        # connection, run once per physical connection instead; values
        # captured so the pool holds no reference to this wrapper.
        statements = ["SET SQL_AUTO_IS_NULL = 0"]  # a no-op where already 0
        # Validated by get_connection_params(), which built the pool's kwargs.
        level = self.settings_dict["OPTIONS"].get("isolation_level", "read committed")
        if level:
            statements.append(f"SET SESSION TRANSACTION ISOLATION LEVEL {level.upper()}")

        def setup(connection: Any) -> None:
            for statement in statements:
                connection.query(statement)

        return setup

    def init_connection_state(self) -> None:
        if self._pool_adapter is None:
            super().init_connection_state()
            return
        # Django's minimum-version check; a pooled connection got its session
        # setup when it was opened.
        BaseDatabaseWrapper.init_connection_state(self)

    def create_cursor(self, name: Any = None) -> Any:
        return CountedCursorWrapper(self.connection.cursor())

    def _forget_inherited_connection(self) -> None:
        # Also for unpooled connections: dropping one would let mysqlclient's
        # finaliser send COM_QUIT on the parent's socket.
        if self.connection is not None:
            abandon_connection(self.connection)
        super()._forget_inherited_connection()
