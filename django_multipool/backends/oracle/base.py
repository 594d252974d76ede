"""Oracle backend whose connections come from python-oracledb's pool (thin mode).

Django's own Oracle backend, with every place it touches its built-in pool
taken over by :class:`PooledDatabaseWrapperMixin`. What else differs:

- Django runs two ``ALTER SESSION`` statements on every checkout; here they
  run once per physical session, in the pool's session callback, so a
  checkout costs no round trip (on DRCP the adapter runs them per checkout:
  the server session behind a connection may change).
- Oracle's test "databases" are users. Pools are keyed by the settings,
  ``USER`` included, so a pool never serves the wrong user; the test user's
  sessions are all ended before the user is dropped.
"""

from __future__ import annotations

# First: a Django release without a name used here fails with the fix.
from . import _privates  # noqa: F401  # isort: skip

from typing import Any

import oracledb
from django.conf import settings
from django.db.backends.oracle import base, creation
from django.db.backends.oracle.utils import dsn
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

from ...adapters.oracledb import OracledbPoolAdapter
from ..cursors import counted
from ..mixins import PooledDatabaseWrapperMixin
from ..registry import registry
from .features import DatabaseFeatures

# Reports when it closes, for release="transaction" (backends.cursors).
CountedFormatStylePlaceholderCursor = counted(base.FormatStylePlaceholderCursor)


class SessionSetup:
    """Django's per-connection Oracle session state, applied once per session.

    It holds no DatabaseWrapper (the pool outlives the thread that built it),
    only the settings the pool is keyed by.
    """

    def __init__(self, *, use_tz: bool) -> None:
        self.statements = (
            # Territory first: setting it resets the date formats (Django's order).
            "ALTER SESSION SET NLS_TERRITORY = 'AMERICA'",
            "ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'"
            " NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF'"
            + (" TIME_ZONE = 'UTC'" if use_tz else ""),
        )
        # Django's LIKE probe (ticket #14149) answers for the database, not the
        # session: run it on the first session and keep the answer. None = not yet.
        self.standard_like: bool | None = None
        self.like_probe = (
            "SELECT 1 FROM DUAL WHERE DUMMY "
            + base.DatabaseWrapper._standard_operators["contains"] % ":1"  # type: ignore[attr-defined]
        )

    def __call__(self, connection: Any) -> None:
        with connection.cursor() as cursor:
            for statement in self.statements:
                cursor.execute(statement)
            if self.standard_like is None:
                try:
                    cursor.execute(self.like_probe, ["X"])
                except oracledb.DatabaseError:
                    self.standard_like = False
                else:
                    self.standard_like = True


class DatabaseCreation(creation.DatabaseCreation):
    # Not PooledDatabaseCreationMixin: it closes pools by database NAME, and an
    # Oracle test database is a user on the same NAME. Oracle cannot clone test
    # databases, so destroying is the one step that needs the pool closed.

    def _destroy_test_db(self, test_database_name: str, verbosity: int = 1) -> None:
        # DROP USER refuses a connected user (ORA-01940): end every session of
        # the test user's pool, even one a thread still holds, as Django's own
        # pool does with close(force=True).
        self.connection.close()
        adapter = registry.current(self.connection.alias)
        if isinstance(adapter, OracledbPoolAdapter):
            adapter.terminate()
        self.connection.close_pool()
        # Django leaves USER on the dropped test user when pooling, only so its
        # close_pool() finds the pool keyed (alias, USER). Ours are keyed by the
        # settings: go back to the main user, as Django does without a pool.
        s = self.connection.settings_dict
        if "SAVED_USER" in s:
            s["USER"], s["PASSWORD"] = s["SAVED_USER"], s["SAVED_PASSWORD"]
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]


class _DatabaseErrorWrapper(DatabaseErrorWrapper):
    """Django's error wrapper, raising OperationalError when the session is gone.

    python-oracledb raises a session that ended under it (DPY-4011: killed,
    server restarted, network closed) as DatabaseError; PostgreSQL and MySQL
    give Django's OperationalError for a lost connection, and that is what
    code written for Django catches.
    """

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        dead = isinstance(exc_value, oracledb.DatabaseError) and exc_value.args
        error = exc_value.args[0] if dead else None
        if getattr(error, "is_session_dead", False):
            # Django picks its class by the driver class given here; the
            # driver's error stays the __cause__.
            exc_type = oracledb.OperationalError
        super().__exit__(exc_type, exc_value, traceback)


class DatabaseWrapper(PooledDatabaseWrapperMixin, base.DatabaseWrapper):
    pool_adapter_class = OracledbPoolAdapter
    creation_class = DatabaseCreation
    features_class = DatabaseFeatures

    @cached_property
    def wrap_database_errors(self) -> DatabaseErrorWrapper:
        return _DatabaseErrorWrapper(self)

    @property
    def is_pool(self) -> bool:
        # Read by Django's creation and features code. Django's is off unless
        # OPTIONS["pool"] is set; our ENGINE pools unless it is False.
        return self.pool_enabled

    def create_cursor(self, name: Any = None) -> Any:
        return CountedFormatStylePlaceholderCursor(self.connection, self)

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        # OPTIONS["pool"] is ours, never a driver argument: Django would pass
        # pool=False to oracledb.connect() when pooling is off, which fails.
        params.pop("pool", None)
        return params

    def pool_connect_kwargs(self) -> dict[str, Any]:
        s = self.settings_dict
        params = {
            "user": s["USER"],
            "password": s["PASSWORD"],
            "dsn": dsn(s),
            **self.get_connection_params(),
        }
        # v$session.program: whose the session is, unless OPTIONS["program"]
        # or driver_options name it (machine and process are the driver's).
        params.setdefault("program", self.pool_identity().text())
        return params

    def pool_connection_setup(self) -> SessionSetup:
        return SessionSetup(use_tz=settings.USE_TZ)

    def pool_label(self) -> str:
        s = self.settings_dict
        user = f"{s['USER']}@" if s["USER"] else ""
        return f"oracle://{user}{_without_credentials(dsn(s))}"

    def init_connection_state(self) -> None:
        if self._pool_adapter is None:
            super().init_connection_state()  # pooling off: Django's, per connection
            return
        # Pooled: the ALTER SESSIONs ran once for this session in the pool's
        # session callback. What is left costs no round trip: the version check
        # (once per alias), then the LIKE operators the first session found.
        # Also skipped on purpose: stmtcachesize = 20 (the pool's default, or
        # OPTIONS["stmtcachesize"]) and the commit when AUTOCOMMIT is False
        # (ALTER SESSION opens no transaction).
        super(base.DatabaseWrapper, self).init_connection_state()
        if "operators" not in self.__dict__:
            setup = getattr(self._pool_adapter, "connection_setup", None)
            # Behind OPTIONS["pool"]["configure"], our own is its backend setup.
            setup = getattr(setup, "backend", setup)
            # (Django's private operator tables are not in django-stubs.)
            if getattr(setup, "standard_like", True) is False:
                self.operators = self._likec_operators  # type: ignore[attr-defined]
                self.pattern_ops = self._likec_pattern_ops  # type: ignore[attr-defined]
            else:
                self.operators = self._standard_operators  # type: ignore[attr-defined]
                self.pattern_ops = self._standard_pattern_ops  # type: ignore[attr-defined]

    def close_if_health_check_failed(self) -> None:
        if self.pool_enabled:
            # The pool validated the connection at checkout as OPTIONS["pool"]
            # ["check"] says (CONN_HEALTH_CHECKS makes it True). Django's version
            # would build a pool just to ask whether there is one.
            return
        super().close_if_health_check_failed()


def _without_credentials(connect_string: str) -> str:
    # oracledb accepts "user/password@dsn"; a label must never show a password.
    if not connect_string.startswith("(") and "@" in connect_string:
        return connect_string.rsplit("@", 1)[1]
    return connect_string
