"""MySQL and MariaDB through mysqlclient (``MySQLdb``), pooled by our own core.

mysqlclient has no pool, so the pooling is :class:`django_multipool._pool.Pool`
and mysqlclient does what Django's own MySQL backend has it do, one
connection at a time:

- opening connections: ``MySQLdb.connect()`` with the arguments Django's
  backend computes (conversions, ``utf8mb4``, ``FOUND_ROWS``, OPTIONS);
- ``check``: ``ping()`` (COM_PING), and only for connections idle >= N s;
- ``reset="rollback"``: ``rollback()``, only when the server's status flags
  say a transaction is open. mysqlclient does not expose that flag; the C
  library it is linked against keeps it and ``_mysqlclient_status`` reads
  it, no I/O. Where it cannot (Oracle's libmysqlclient), every return rolls
  back: a round trip, but never a transaction carried to the next borrower;
- ``reset="session"``: COM_RESET_CONNECTION (the C library's
  ``mysql_reset_connection()``, which mysqlclient does not wrap), then what
  ``MySQLdb.connect()`` set up is set again: the database, the character
  set, ``init_command``, autocommit, and the backend's per-connection setup;
- the watchdog's interrupt shuts the socket behind ``fileno()`` down.

A forked child must not let a parent's connection be closed or freed:
mysqlclient's ``close()`` and its finaliser both send COM_QUIT on the shared
socket. :func:`abandon_connection` points the child's descriptor at a fresh,
unconnected socket first, so whatever the child does with the object later
reaches nobody.

docs/vendors/mysql.md has the whole table and the figures.
"""

from __future__ import annotations

# First: a mysqlclient release without a name used here fails with the fix.
from . import _mysqlclient_privates  # noqa: F401  # isort: skip

import contextlib
import functools
import math
import os
import select
import socket
from collections.abc import Mapping
from time import monotonic
from typing import Any, ClassVar

import MySQLdb

from .._pool import Pool
from .._redact import secrets_of
from .._watchdog import bounded, shut_down_socket
from ..adapter import ConnectionSetup
from ..errors import AUTHENTICATION_FAILED, CONNECTION_REFUSED, UNKNOWN_HOST, PoolConfigError
from ..policy import SETUP_LEFT_A_TRANSACTION
from . import _mysqlclient_status as status
from ._on_core import PoolCoreAdapter

__all__ = ["MySQLclientPoolAdapter", "abandon_connection", "refusal"]

# Server errors that refuse a login: access denied (1045), to the database
# (1044), without a password (1698); this host may not connect (1130).
_LOGIN_REFUSED = frozenset({1044, 1045, 1130, 1698})
_UNKNOWN_HOST = 2005  # CR_UNKNOWN_HOST
# CR_CONNECTION_ERROR (socket file), CR_CONN_HOST_ERROR (TCP): "Can't connect".
_CANT_CONNECT = frozenset({2002, 2003})

#: mysql-connector's connect() arguments that MySQLdb.connect() does not
#: take, each with what it is called here (None: nothing equivalent).
CONNECTOR_ONLY_OPTIONS: Mapping[str, str | None] = {
    "pool_name": None,
    "pool_size": None,
    "pool_reset_session": None,
    "use_pure": None,
    "buffered": None,
    "raw": None,
    "consume_results": None,
    "converter_class": "conv",
    "connection_timeout": "connect_timeout",
    "option_files": "read_default_file",
    "option_groups": "read_default_group",
    "failover": None,
    "ssl_ca": "ssl={'ca': ...}",
    "ssl_cert": "ssl={'cert': ...}",
    "ssl_key": "ssl={'key': ...}",
    "ssl_disabled": "ssl_mode='DISABLED'",
    "allow_local_infile": "local_infile",
}

# Keyword arguments MySQLdb.connect() (and its C connection) accepts.
_CONNECT_ARGUMENTS = frozenset(
    {
        "host",
        "user",
        "password",
        "passwd",
        "database",
        "db",
        "port",
        "unix_socket",
        "conv",
        "connect_timeout",
        "compress",
        "named_pipe",
        "init_command",
        "read_default_file",
        "read_default_group",
        "cursorclass",
        "use_unicode",
        "charset",
        "collation",
        "auth_plugin",
        "sql_mode",
        "client_flag",
        "multi_statements",
        "ssl_mode",
        "ssl",
        "local_infile",
        "autocommit",
        "binary_prefix",
        "read_timeout",
        "write_timeout",
        "server_public_key_path",
    }
)


def refusal(exc: BaseException) -> str | None:
    """The cause if a connect error of mysqlclient says the server refused.

    "Can't connect" (2002, 2003) covers a timeout too, and the C library's
    message then carries the same errno (EINPROGRESS) as for a refusal, so
    it counts as a refusal only if it came back well before the connect
    timeout: :meth:`_MySQLdbDriver.connect` notes that on the error.
    """
    if not isinstance(exc, MySQLdb.OperationalError) or not exc.args:
        return None
    errno = exc.args[0]
    if errno in _LOGIN_REFUSED:
        return AUTHENTICATION_FAILED
    if errno == _UNKNOWN_HOST:
        return UNKNOWN_HOST
    if errno in _CANT_CONNECT and getattr(exc, "_multipool_answered_at_once", False):
        return CONNECTION_REFUSED
    return None


class MySQLclientPoolAdapter(PoolCoreAdapter):
    vendor = "mysql"
    reserved_driver_options: ClassVar[Mapping[str, str]] = {
        "autocommit": "Django's AUTOCOMMIT setting does: pooled connections open in that mode.",
    }
    _driver: _MySQLdbDriver

    def _build(self) -> None:
        config, name = self.config, self.name
        kwargs = {**self._connect_kwargs, **config.driver_options}
        _validate_connect_kwargs(config.driver_options)
        if "connect_timeout" not in kwargs:
            # The C library otherwise waits as long as the kernel does on a
            # server that never answers, and the pool's connecting thread
            # with it.
            kwargs["connect_timeout"] = max(1, math.ceil(config.timeout))
        self._driver = _MySQLdbDriver(
            kwargs,
            self._setup,
            session_reset=config.reset == "session",
            round_trip_limit=config.timeout,
        )
        self._pool: Pool[Any] = Pool(
            self._driver, config, name=name, secrets=secrets_of({"OPTIONS": kwargs})
        )

    def holds_transaction(self, conn: Any) -> bool:
        # A transaction open, or the session switched out of autocommit by
        # SQL (SET autocommit = 0), where the next statement opens one. Not
        # knowing counts as open.
        return self._driver.in_transaction(conn) or self._driver.autocommit_drifted(conn)


def _socket_identity(fd: int) -> tuple[int, int] | None:
    """(device, inode) of the socket behind ``fd``; None once it is closed."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _validate_connect_kwargs(driver_options: Mapping[str, Any]) -> None:
    for key in driver_options:
        if key in _CONNECT_ARGUMENTS:
            continue
        if key in CONNECTOR_ONLY_OPTIONS:
            equivalent = CONNECTOR_ONLY_OPTIONS[key]
            instead = f" (mysqlclient's equivalent: {equivalent})" if equivalent else ""
            raise PoolConfigError(
                f"OPTIONS['pool']['driver_options'] has {key!r}, an argument of "
                f"mysql-connector-python, but ENGINE 'django_multipool.backends.mysql' "
                f"connects with mysqlclient (MySQLdb), as Django's own MySQL backend does"
                f"{instead}. For mysql-connector, set ENGINE to "
                f"'django_multipool.backends.mysql_connector'."
            )
        raise PoolConfigError(
            f"OPTIONS['pool']['driver_options'] has {key!r}, which MySQLdb.connect() does "
            f"not accept. On MySQL, driver_options are connect() arguments for pooled "
            f"connections; valid ones: {', '.join(sorted(_CONNECT_ARGUMENTS))}."
        )


class _MySQLdbDriver:
    """Connection-level operations of mysqlclient."""

    def __init__(
        self,
        kwargs: dict[str, Any],
        setup: ConnectionSetup | None,
        *,
        session_reset: bool,
        round_trip_limit: float,
    ) -> None:
        self._kwargs = kwargs
        self._setup = setup
        self._session_reset = session_reset
        self._round_trip_limit = round_trip_limit
        self._autocommit = bool(kwargs.get("autocommit", False))
        self._database = kwargs.get("database", kwargs.get("db"))
        self._charset = kwargs.get("charset")
        self._collation = kwargs.get("collation")
        self._init_command = kwargs.get("init_command")
        self._connect_timeout = float(kwargs["connect_timeout"])
        # Whether the client library's status flags can be read (asked of the
        # first connection); until then, and if not, nothing is assumed.
        self._status_readable: bool | None = None

    def connect(self) -> Any:
        started = monotonic()
        try:
            conn = MySQLdb.connect(**self._kwargs)
        except MySQLdb.OperationalError as exc:
            # See refusal(): a timeout takes connect_timeout, a refusal does not.
            exc._multipool_answered_at_once = monotonic() - started < self._connect_timeout / 2
            raise
        try:
            # Kept: mysqlclient refuses any call, fileno() too, on a connection
            # another thread is inside of, which is when the watchdog (and a
            # forked child, for a connection in use at fork time) needs it.
            conn._multipool_fd = conn.fileno()
            conn._multipool_socket = _socket_identity(conn._multipool_fd)
            if self._status_readable is None:
                self._status_readable = status.status_readable(conn)
            if self._status_readable:
                # The flags read in place (a memory word), kept with the
                # connection it points into; None: the library's getter.
                conn._multipool_status = status.status_reader(conn)
            if self._setup is not None:
                self._setup(conn)
                if self.in_transaction(conn) and self._status_readable:
                    # Lent like this, its borrower's statements would run in a
                    # transaction nobody commits (the return rolls it back).
                    raise MySQLdb.ProgrammingError(
                        f"the setup of a new connection left a transaction open: "
                        f"{SETUP_LEFT_A_TRANSACTION}"
                    )
        except BaseException:
            self.close(conn)
            raise
        return conn

    def refusal(self, exc: BaseException) -> str | None:
        return refusal(exc)

    def close(self, conn: Any) -> None:
        # COM_QUIT, then the socket; an error means it is already gone.
        with contextlib.suppress(Exception):
            conn.close()

    def ping(self, conn: Any) -> None:
        conn.ping()

    def is_broken(self, conn: Any) -> bool:
        # An idle MySQL connection never has anything to read: readable means
        # the server closed it (KILL, wait_timeout, restart), or a streamed
        # result (SSCursor) too large for the C library's buffer is still
        # coming: closed either way, not drained. One poll(), no round trip.
        try:
            fd = conn.fileno()
        except Exception:  # closed
            return True
        if fd < 0:
            return True
        # After a lost connection (KILL: "Lost connection to server") the C
        # library closes its socket but keeps reporting the descriptor's
        # number, which the next socket opened (the pool's replacement, say)
        # takes: polled, that one looks idle and fine. The socket's identity,
        # noted at connect, tells them apart; one fstat(), no round trip.
        if _socket_identity(fd) != getattr(conn, "_multipool_socket", None):
            return True
        if hasattr(select, "poll"):
            # One poller per connection, for the descriptor it was made for.
            cached = getattr(conn, "_multipool_poller", None)
            if cached is None or cached[0] != fd:
                poller = select.poll()
                poller.register(fd, select.POLLIN | select.POLLPRI)
                conn._multipool_poller = cached = (fd, poller)
            return bool(cached[1].poll(0))
        readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - Windows
        return bool(readable)

    def in_transaction(self, conn: Any) -> bool:
        """Whether the server's last reply said a transaction is open; True if unknown."""
        view = getattr(conn, "_multipool_status", None)
        if view is not None:
            return bool(view.value & status.SERVER_STATUS_IN_TRANS)
        if not self._status_readable:
            return True
        flags = status.server_status(conn)
        return flags is None or bool(flags & status.SERVER_STATUS_IN_TRANS)

    def autocommit_drifted(self, conn: Any) -> bool:
        """The server's autocommit (from the last status flags) differs from ours."""
        try:
            return bool(conn.get_autocommit()) != self._autocommit
        except Exception:  # closed
            return True

    def results_pending(self, conn: Any) -> bool:
        """Whether a borrower left results unread: the next one's queries would fail.

        A streamed result (``SSCursor``) not read to its end, or result sets
        of a multi-statement after the first. Django's own cursors read
        everything; raw code may not. No I/O: ``next_result()`` fails at once
        while a streamed result is unread, and is only asked when the status
        flags say no further result set is coming.
        """
        view = getattr(conn, "_multipool_status", None)
        flags = view.value if view is not None else status.server_status(conn)
        if flags is None or flags & status.SERVER_MORE_RESULTS_EXIST:
            return True
        try:
            conn.next_result()
        except MySQLdb.Error:
            return True  # commands out of sync: a streamed result is unread
        except Exception:  # closed
            return False  # is_broken() said so already
        return False

    def needs_reset(self, conn: Any) -> bool:
        # Every case in which _reset() sends something; keep the two in step.
        return (
            self._session_reset
            or self.in_transaction(conn)
            or self.autocommit_drifted(conn)
            or self.results_pending(conn)
        )

    def reset(self, conn: Any) -> None:
        # A stalled server must not hold the thread giving the connection
        # back: the round trips get the pool's timeout. Armed only when there
        # is one, keeping a plain return free of it.
        if self.needs_reset(conn):
            interrupt = functools.partial(self.interrupt, conn)
            with bounded(self._round_trip_limit, interrupt, "the reset of a returned connection"):
                self._reset(conn)

    def interrupt(self, conn: Any) -> None:
        shut_down_socket(conn._multipool_fd)

    def _reset(self, conn: Any) -> None:
        if self._session_reset or self.results_pending(conn):
            # Unread rows belong to a cursor the pool cannot reach; the C
            # library's reset reads past them, then the session starts over.
            # COM_RESET_CONNECTION ends any transaction, drops temporary
            # tables, user variables, prepared statements, locks and session
            # settings, and leaves autocommit and the character set as the
            # server's defaults; then what connect() set, set again.
            status.reset_connection(conn)
            if self._database:
                # It keeps the current database: a borrower's USE would send
                # the next one's queries to another database.
                conn.select_db(self._database)
            if self._charset:
                # The server is back to the handshake's character set, the C
                # library still believes the last SET NAMES it saw.
                conn.query(
                    f"SET NAMES {self._charset}"
                    + (f" COLLATE {self._collation}" if self._collation else "")
                )
            if self._init_command:
                cursor = conn.cursor()
                try:
                    cursor.execute(self._init_command)
                finally:
                    cursor.close()  # reads any further result sets
            conn.autocommit(self._autocommit)
            if self._setup is not None:
                self._setup(conn)
            return
        if self.in_transaction(conn):
            conn.rollback()
        if self.autocommit_drifted(conn):
            # A borrower switched autocommit with SQL ("SET autocommit = 0"):
            # Django's next request trusts the mode it set, and its writes
            # would run in a transaction nobody commits.
            conn.autocommit(self._autocommit)

    def abandon(self, conn: Any) -> None:
        abandon_connection(conn)


def abandon_connection(conn: Any) -> None:
    """Make a connection inherited through fork() inert, without any I/O.

    mysqlclient's ``close()`` and its finaliser send COM_QUIT on the socket,
    which this process shares with the parent: that would end the parent's
    session. The child's copy of the descriptor is pointed at a new,
    unconnected socket instead, so a later ``close()`` or finaliser writes
    to nothing and closes only that.
    """
    # Noted at connect (see _MySQLdbDriver.connect()): a thread of the parent
    # may have been inside the connection at fork time.
    fd = getattr(conn, "_multipool_fd", None)
    if fd is None:
        try:
            fd = conn.fileno()
        except Exception:  # already closed
            return
    if fd < 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as inert, contextlib.suppress(OSError):
        os.dup2(inert.fileno(), fd)
