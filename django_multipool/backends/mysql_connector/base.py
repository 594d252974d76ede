"""MySQL/MariaDB backend: mysql-connector-python's Django backend, pooled.

Built on ``mysql.connector.django`` (not on Django's own MySQL backend, which
needs mysqlclient) and corrected where that backend misreads the server:

- It answers ``False`` to every ``mysql_is_*`` attribute and takes the version
  from the handshake, which MariaDB 10+ sends as ``5.5.5-10.x.y-MariaDB``. So
  Django took its MySQL 5.5 code paths on MariaDB and emitted SQL MariaDB
  rejects. Here, as in Django's own backend, vendor and version come from
  ``SELECT VERSION()`` (``mysql_server_data``, one query per wrapper).
- Its ``display_name`` is a ``cached_property`` around a ``staticmethod``,
  which Django 6.1 cannot call.
- It skips Django's minimum-version check; Django's own backend runs it.

Per-checkout cost: the session setup Django would repeat on every new
connection (``SQL_AUTO_IS_NULL``, isolation level) runs once per physical
connection, when the pool opens it; autocommit is only sent when it changes.
A checkout and return with default settings costs no round trip, and a
query costs one (the connector's ``cursor()`` adds a COM_PING; ours does not).
"""

from __future__ import annotations

# First: a Django or mysql-connector release without a name used here fails
# with the fix.
from . import _privates  # noqa: F401  # isort: skip

import inspect
import re
import uuid
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property
from mysql.connector import cursor as connector_cursor
from mysql.connector import errors as connector_errors
from mysql.connector.connection import MySQLConnection
from mysql.connector.constants import CNX_POOL_ARGS
from mysql.connector.django import base, creation

from ...adapter import ConnectionSetup
from ...adapters.mysql_connector import MySQLConnectorPoolAdapter, abandon_connection
from ..cursors import counted
from ..mixins import PooledDatabaseCreationMixin, PooledDatabaseWrapperMixin
from .cursor import CursorWrapper
from .features import DatabaseFeatures
from .introspection import DatabaseIntrospection
from .operations import DatabaseOperations
from .schema import DatabaseSchemaEditor

# Reports when it closes, for release="transaction" (backends.cursors).
CountedCursorWrapper = counted(CursorWrapper)

# Django's own (django/db/backends/mysql/base.py, which imports MySQLdb).
server_version_re = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{1,2})")
DEFAULT_ISOLATION_LEVEL = "read committed"


# What MySQLConnection.cursor() picks for the connection's (buffered, raw) options.
_CURSOR_CLASSES = {
    (False, False): connector_cursor.MySQLCursor,
    (True, False): connector_cursor.MySQLCursorBuffered,
    (False, True): connector_cursor.MySQLCursorRaw,
    (True, True): connector_cursor.MySQLCursorBufferedRaw,
}


# Client errors that mean the session is gone (CR_SERVER_GONE_ERROR,
# CR_SERVER_LOST, CR_SERVER_LOST_EXTENDED). mysql-connector raises some as
# InterfaceError, which Django turns into its InterfaceError; mysqlclient,
# under Django's own backend, raises OperationalError, and that is what
# Django apps catch for a lost connection. Read/write timeouts (read_timeout,
# write_timeout) close the connection too: the same.
_CONNECTION_LOST = frozenset({2006, 2013, 2055})
_TIMEOUTS = (connector_errors.ReadTimeoutError, connector_errors.WriteTimeoutError)


class _DatabaseErrorWrapper(DatabaseErrorWrapper):
    """Django's error wrapper, raising OperationalError for a lost connection."""

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_type is None:
            return  # every statement passes here, usually without an error
        if isinstance(exc_value, _TIMEOUTS) or (
            isinstance(exc_value, connector_errors.InterfaceError)
            and exc_value.errno in _CONNECTION_LOST
        ):
            # Django picks its class by the driver class given here; the
            # driver's error stays the __cause__.
            exc_type = connector_errors.OperationalError
        super().__exit__(exc_type, exc_value, traceback)


class DjangoMySQLConverter(base.DjangoMySQLConverter):
    def _uuid_to_mysql(self, value: uuid.UUID) -> bytes:
        # MariaDB has a native uuid type and Django then passes UUID objects
        # through (has_native_uuid_field); the connector cannot convert them.
        return str(value).encode()


class DatabaseCreation(PooledDatabaseCreationMixin, creation.DatabaseCreation):
    pass


class DatabaseWrapper(PooledDatabaseWrapperMixin, base.DatabaseWrapper):
    pool_adapter_class = MySQLConnectorPoolAdapter
    creation_class = DatabaseCreation
    features_class = DatabaseFeatures
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations
    SchemaEditorClass = DatabaseSchemaEditor  # type: ignore[assignment]  # Django's, not the connector's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.pool_enabled:
            # Pooled connections always speak the pure-Python protocol (see
            # the adapter); the operations must convert values to match.
            self._use_pure = True

    @cached_property
    def wrap_database_errors(self) -> DatabaseErrorWrapper:
        return _DatabaseErrorWrapper(self)

    def __getattr__(self, attr: str) -> Any:
        # The connector answers False for any unknown mysql_is_* name, which
        # is how MariaDB passed for MySQL. Unknown means unknown here.
        descriptor = inspect.getattr_static(type(self), attr, None)
        if hasattr(descriptor, "__get__"):
            # A property of ours (mysql_is_mariadb, ...) raised AttributeError
            # while computing; Python then asks here. Compute it again so that
            # the real error shows, not "no attribute 'mysql_is_mariadb'".
            return descriptor.__get__(self, type(self))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    # -- what the server is (as Django's own MySQL backend computes it) -----------

    @cached_property
    def mysql_server_info(self) -> str:
        return str(self.mysql_server_data["version"])

    @cached_property
    def mysql_version(self) -> tuple[int, ...]:
        match = server_version_re.match(self.mysql_server_info)
        if not match:
            raise ImproperlyConfigured(
                f"Unable to determine MySQL version from version string {self.mysql_server_info!r}"
            )
        return tuple(int(x) for x in match.groups())

    @cached_property
    def mysql_is_mariadb(self) -> bool:
        return "mariadb" in self.mysql_server_info.lower()

    @cached_property
    def display_name(self) -> str:  # type: ignore[override]
        return "MariaDB" if self.mysql_is_mariadb else "MySQL"

    @cached_property
    def sql_mode(self) -> set[str]:
        # From the same query as the version, not one more round trip.
        sql_mode = self.mysql_server_data["sql_mode"]
        return set(sql_mode.split(",") if sql_mode else ())

    def get_database_version(self) -> tuple[int, ...]:
        return self.mysql_version

    @cached_property
    def data_types(self) -> dict[str, str]:  # type: ignore[override]
        # As Django's own backend: MariaDB's native uuid column for UUIDField.
        data_types = dict(base.DatabaseWrapper.data_types)
        if self.features.has_native_uuid_field:
            data_types["UUIDField"] = "uuid"
        return data_types

    # -- connecting ---------------------------------------------------------------

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params.pop("pool", None)  # ours, not a connect() argument
        if "isolation_level" not in self.settings_dict["OPTIONS"]:
            # Django's own MySQL backend's default; the connector's is the
            # server's (REPEATABLE READ), which Django's tests and users
            # switching ENGINE do not expect (backends.mysql.tests.
            # IsolationLevelTests.test_default_isolation_level).
            self.isolation_level = DEFAULT_ISOLATION_LEVEL
        params.setdefault("converter_class", DjangoMySQLConverter)
        # Results read whole at execute(), as mysqlclient's default cursor
        # (store_result) reads them under Django's own MySQL backend. The
        # connector's default streams them, and with consume_results=True a
        # query run while a chunked .iterator() was being read silently
        # dropped the iterator's unread rows (django-silk's EXPLAIN after each
        # query did it). OPTIONS["buffered"] = False streams again.
        params.setdefault("buffered", True)
        if self.pool_enabled:
            for key in CNX_POOL_ARGS:
                if key in params:
                    shared = MySQLConnectorPoolAdapter.reserved_driver_options[key]
                    raise ImproperlyConfigured(
                        f"DATABASES[{self.alias!r}]['OPTIONS'][{key!r}] configures "
                        f"mysql-connector's own pool, which django-multipool replaces: "
                        f"remove it and set OPTIONS['pool'][{shared!r}] instead."
                    )
            if params.get("use_pure", True) is not True:
                raise ImproperlyConfigured(
                    f"DATABASES[{self.alias!r}]['OPTIONS']['use_pure'] is False, but "
                    f"pooled connections need mysql-connector's pure-Python protocol "
                    f"(fork safety). Remove use_pure, or set OPTIONS['pool'] to False."
                )
        return params

    def pool_connect_kwargs(self) -> dict[str, Any]:
        params = super().pool_connect_kwargs()
        # Connections start in the mode Django sets on every checkout, so
        # that set_autocommit() finds nothing to change.
        params["autocommit"] = bool(self.settings_dict["AUTOCOMMIT"])
        # Whose the session is, in the attribute MySQL's own clients use for
        # their name; OPTIONS["conn_attrs"]["program_name"] wins. The server
        # shows attributes in performance_schema only (docs/vendors/mysql.md).
        attrs = dict(params.get("conn_attrs") or {})
        attrs.setdefault("program_name", self.pool_identity().text())
        params["conn_attrs"] = attrs
        return params

    def pool_connection_setup(self) -> ConnectionSetup:
        # What the connector's init_connection_state() sends on every new
        # connection, run once per physical connection instead; values
        # captured so the pool holds no reference to this wrapper.
        statements = ["SET SQL_AUTO_IS_NULL = 0"]  # a no-op where already 0
        level = self.settings_dict["OPTIONS"].get("isolation_level", DEFAULT_ISOLATION_LEVEL)
        if level:
            # Validated by get_connection_params(), which built the pool's kwargs.
            statements.append(f"SET SESSION TRANSACTION ISOLATION LEVEL {level.upper()}")

        def setup(connection: Any) -> None:
            for statement in statements:
                connection.cmd_query(statement)

        return setup

    def init_connection_state(self) -> None:
        # Django's minimum-version check, which the connector skips.
        BaseDatabaseWrapper.init_connection_state(self)
        if self._pool_adapter is None:
            super().init_connection_state()
        # A pooled connection got its session setup when it was opened.

    def _set_autocommit(self, autocommit: bool) -> None:
        # Like mysqlclient under Django's own backend: no round trip when the
        # session is already in that mode (the connector tracks it).
        if getattr(self.connection, "_autocommit", None) is autocommit:
            return
        super()._set_autocommit(autocommit)

    def create_cursor(self, name: Any = None) -> Any:
        connection = self.connection
        if type(connection) is not MySQLConnection:
            return CountedCursorWrapper(connection.cursor())
        # MySQLConnection.cursor() sends a COM_PING before handing out each
        # cursor, and Django makes a cursor per query: every query would cost
        # two round trips. The same cursor, built without the ping; a dead
        # connection still fails, at execute().
        connection.handle_unread_result()
        options = (bool(connection._buffered), bool(connection._raw))
        return CountedCursorWrapper(_CURSOR_CLASSES[options](connection))

    def _forget_inherited_connection(self) -> None:
        # Also for unpooled connections: dropping one would let its socket's
        # finaliser shut the parent's session down.
        if self.connection is not None:
            abandon_connection(self.connection)
        super()._forget_inherited_connection()
