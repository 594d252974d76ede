"""MySQL and MariaDB through mysql-connector-python, pooled by our own core.

mysql-connector's ``MySQLConnectionPool`` cannot carry the shared schema: it
is fixed-size (at most 32) and fills eagerly, fails at once when empty, holds
one process-wide lock across a COM_PING on every checkout, costs five round
trips per get/put with session reset and nothing at all (not even a
rollback) without it, and a ``PooledMySQLConnection`` dropped without
``close()`` loses its slot for good. So the pooling itself is
:class:`django_multipool._pool.Pool`, and mysql-connector keeps doing what it
does well, one connection at a time:

- opening connections: ``mysql.connector.connect()``, with option files,
  failover, DNS SRV and its own argument validation;
- ``check``: ``ping()`` (COM_PING), and only for connections idle >= N s;
- ``reset="rollback"``: ``rollback()``, and only when the server's status
  flags say a transaction is open (``in_transaction``, free to read);
- ``reset="session"``: ``cmd_reset_connection()`` (COM_RESET_CONNECTION,
  followed by the connector re-applying charset, autocommit, ``time_zone``,
  ``sql_mode`` and ``init_command``), then the backend's per-connection setup.
  The connector's ``reset_session()`` is not used: it pings first and falls
  back to re-authenticating.

Inside each connection the pool changes one thing, how packets are read:
read ahead, and no timeout set again when it has not changed. Two system
calls per query instead of about twenty (``_mysql_io``).

docs/vendors/mysql.md has the whole table of what delegates and why.
"""

from __future__ import annotations

# First: a mysql-connector release without a name used here fails with the fix.
from . import _mysql_privates  # noqa: F401  # isort: skip

import contextlib
import functools
import math
import os
import select
import socket
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar

import mysql.connector
from mysql.connector.connection import MySQLConnection
from mysql.connector.constants import CNX_POOL_ARGS, DEFAULT_CONFIGURATION, ServerFlag

from .._pool import Pool
from .._redact import secrets_of
from .._watchdog import bounded
from ..adapter import ConnectionSetup
from ..errors import AUTHENTICATION_FAILED, UNKNOWN_HOST, PoolConfigError, os_refusal
from ..policy import SETUP_LEFT_A_TRANSACTION
from . import _mysql_io
from ._on_core import PoolCoreAdapter

__all__ = ["MySQLConnectorPoolAdapter", "abandon_connection", "refusal"]

# Keyword arguments mysql.connector.connect() accepts besides its defaults table.
_CONNECT_EXTRAS = frozenset({"option_files", "option_groups", "failover"})

# Server errors that refuse a login: access denied (1045), to the database
# (1044), without a password (1698); this host may not connect (1130).
_LOGIN_REFUSED = frozenset({1044, 1045, 1130, 1698})
_UNKNOWN_HOST = 2005  # CR_UNKNOWN_HOST; the pure protocol says 2003 with the socket error


def refusal(exc: BaseException) -> str | None:
    """The cause if a connect error of mysql-connector says the server refused.

    2003 ("Can't connect") is a refusal only when the socket error under it
    is one: it also covers timeouts.
    """
    if not isinstance(exc, mysql.connector.Error):
        return None
    errno = exc.errno
    if errno in _LOGIN_REFUSED:
        return AUTHENTICATION_FAILED
    if errno == _UNKNOWN_HOST:
        return UNKNOWN_HOST
    return os_refusal(exc)


class MySQLConnectorPoolAdapter(PoolCoreAdapter):
    vendor = "mysql"
    reserved_driver_options: ClassVar[Mapping[str, str]] = {
        # These would build mysql-connector's own pool inside ours.
        "pool_name": "name",
        "pool_size": "max_size",
        "pool_reset_session": "reset",
    }
    _driver: _ConnectorDriver

    def _build(self) -> None:
        config, name = self.config, self.name
        connect_kwargs, setup = self._connect_kwargs, self._setup
        kwargs = {**connect_kwargs, **config.driver_options}
        _validate_connect_kwargs(kwargs, config.driver_options)
        # The pure-Python protocol, always: the pool must be able to let go of
        # a connection inherited through fork() without any I/O (see
        # abandon_connection), which the C extension's close() cannot promise,
        # and the pure implementation is what runs wherever the C extension
        # fails to load (an OpenSSL mismatch is common).
        kwargs["use_pure"] = True
        if not {"connection_timeout", "connect_timeout"} & kwargs.keys():
            # mysql-connector otherwise waits for ever on a server that took
            # the TCP connection and never answers (hung, or behind a stalled
            # network), and the pool's one connecting thread with it.
            kwargs["connection_timeout"] = max(1, math.ceil(config.timeout))
        self._driver = _ConnectorDriver(
            kwargs, setup, session_reset=config.reset == "session", round_trip_limit=config.timeout
        )
        self._pool: Pool[Any] = Pool(
            self._driver,
            config,
            name=name,
            # Every password-like connect argument (password, passwd, password1...).
            secrets=secrets_of({"OPTIONS": kwargs}),
        )

    def holds_transaction(self, conn: Any) -> bool:
        # The status flags of the last reply: a transaction open, or the
        # session switched out of autocommit by SQL (SET autocommit = 0),
        # where the next statement opens one.
        return bool(conn.in_transaction) or self._driver.autocommit_drifted(conn)


def _validate_connect_kwargs(kwargs: Mapping[str, Any], driver_options: Mapping[str, Any]) -> None:
    for key in CNX_POOL_ARGS:
        if key in kwargs:
            raise PoolConfigError(
                f"{key!r} configures mysql-connector's own pool, which django-multipool "
                f"replaces: remove it and set OPTIONS['pool']"
                f"[{MySQLConnectorPoolAdapter.reserved_driver_options[key]!r}] instead."
            )
    if kwargs.get("use_pure", True) is not True:
        raise PoolConfigError(
            "use_pure=False asks for mysql-connector's C extension, which pooled "
            "connections cannot use: the pool must drop a connection inherited "
            "through fork() without closing the parent's session. Remove use_pure."
        )
    known = DEFAULT_CONFIGURATION.keys() | _CONNECT_EXTRAS
    for key in driver_options:
        if key not in known:
            raise PoolConfigError(
                f"OPTIONS['pool']['driver_options'] has {key!r}, which "
                f"mysql.connector.connect() does not accept. On MySQL, driver_options "
                f"are connect() arguments for pooled connections; valid ones: "
                f"{', '.join(sorted(known))}."
            )


class _ConnectorDriver:
    """Connection-level operations of mysql-connector's pure-Python protocol."""

    def __init__(
        self,
        kwargs: dict[str, Any],
        setup: ConnectionSetup | None,
        *,
        session_reset: bool,
        round_trip_limit: float,
    ) -> None:
        self._kwargs = kwargs
        self._round_trip_limit = round_trip_limit
        self._setup = setup
        self._session_reset = session_reset
        self._autocommit = bool(kwargs.get("autocommit", False))
        self._database = kwargs.get("database")

    def connect(self) -> Any:
        conn = mysql.connector.connect(**self._kwargs)
        _track_server_status(conn)
        _mysql_io.install(conn)
        if self._setup is not None:
            try:
                self._setup(conn)
                if conn.in_transaction:
                    # Lent like this, its borrower's statements would run in a
                    # transaction nobody commits (the return rolls it back).
                    raise mysql.connector.errors.ProgrammingError(
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
        # the server closed it (KILL, wait_timeout, restart) or the protocol
        # is out of step. One poll() syscall, no round trip.
        if conn.unread_result:
            # Rows the borrower left unread make it readable: reset() reads
            # them, and fails (discarding the connection) if it is broken.
            return False
        sock = getattr(getattr(conn, "_socket", None), "sock", None)
        if sock is None:
            return True
        if getattr(sock, "pending", None) and sock.pending():  # TLS-buffered bytes
            return True
        if _mysql_io.has_buffered_bytes(conn):  # read ahead, and never asked for
            return True
        try:
            fd = sock.fileno()
        except OSError:
            return True
        if fd < 0:
            return True
        if hasattr(select, "poll"):
            # One poller per connection, for the descriptor it was made for:
            # building one per return cost as much as the poll itself.
            cached = getattr(conn, "_multipool_poller", None)
            if cached is None or cached[0] != fd:
                poller = select.poll()
                poller.register(fd, select.POLLIN | select.POLLPRI)
                conn._multipool_poller = cached = (fd, poller)
            return bool(cached[1].poll(0))
        readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - Windows
        return bool(readable)

    def reset(self, conn: Any) -> None:
        # A stalled server must not hold the thread giving the connection
        # back: the round trips get the pool's timeout. Armed only when there
        # is one, keeping a plain return free of it.
        if self.needs_reset(conn):
            interrupt = functools.partial(self.interrupt, conn)
            with bounded(self._round_trip_limit, interrupt, "the reset of a returned connection"):
                self._reset(conn)

    def needs_reset(self, conn: Any) -> bool:
        # Every case in which _reset() sends something; keep the two in step.
        if self._session_reset or conn.unread_result or conn.in_transaction:
            return True
        return self.autocommit_drifted(conn)

    def autocommit_drifted(self, conn: Any) -> bool:
        """The server's autocommit (from the last status flags) differs from ours."""
        status = getattr(conn, "_multipool_server_status", None)
        return (
            status is not None and bool(status & ServerFlag.STATUS_AUTOCOMMIT) != self._autocommit
        )

    def interrupt(self, conn: Any) -> None:
        sock = getattr(getattr(conn, "_socket", None), "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)

    def _reset(self, conn: Any) -> None:
        if conn.unread_result:
            # A borrower left rows unread; the next borrower's first query
            # would trip over them.
            conn.consume_results()
        if self._session_reset:
            # COM_RESET_CONNECTION ends any transaction, drops temporary
            # tables, user variables, prepared statements and session
            # settings; the connector then re-applies its connect options.
            # Autocommit is one of them, taken from what the connector last
            # set: make that the pool's mode, not the last borrower's.
            conn._autocommit = self._autocommit
            if not conn.cmd_reset_connection():
                raise RuntimeError("the server refused COM_RESET_CONNECTION")
            if self._database:
                # COM_RESET_CONNECTION keeps the current database: a borrower's
                # USE would send the next one's queries to another database.
                conn.cmd_init_db(self._database)
            if self._setup is not None:
                self._setup(conn)
            return
        if conn.in_transaction:
            conn.rollback()
        if self.autocommit_drifted(conn):
            # A borrower switched autocommit with SQL ("SET autocommit = 0"),
            # which the connector's cached flag does not see, and Django's next
            # request trusts that flag: its writes would run in a transaction
            # nobody commits. Restored here, a round trip only in that case.
            conn.autocommit = self._autocommit

    def abandon(self, conn: Any) -> None:
        abandon_connection(conn)


def _track_server_status(conn: Any) -> None:
    """Keep the status flags of every OK and EOF packet in ``_multipool_server_status``.

    The connector keeps only "in transaction" and "more results" of them;
    the autocommit flag tells the pool, with no round trip, whether the
    session is still in the mode the connector believes it is in. The
    connection keeps its class (the driver's own object, no subclass); the
    hook holds it weakly, so that a connection its borrower drops is freed
    at once, as the pool's dropped-connection notice expects.
    """
    if type(conn) is not MySQLConnection:
        return  # pragma: no cover - the pool always asks for the pure protocol
    handle = MySQLConnection._handle_server_status
    ref: weakref.ref[Any] = weakref.ref(conn)

    def track(flags: int) -> None:
        owner: Any = ref()  # alive: it is the connection calling
        owner._multipool_server_status = flags
        handle(owner, flags)

    conn._handle_server_status = track  # type: ignore[method-assign]  # this instance's only


def abandon_connection(conn: Any) -> None:
    """Make a connection inherited through fork() inert, without any I/O.

    mysql-connector's ``close()`` sends COM_QUIT, and its socket wrapper's
    finaliser calls ``shutdown(SHUT_RDWR)``: either would end the parent's
    session on the shared socket. Detaching the socket and closing only this
    process's file descriptor leaves the parent's session untouched, and
    turns any later ``close()`` or finaliser into a no-op.
    """
    wrapper = getattr(conn, "_socket", None)
    sock = getattr(wrapper, "sock", None)
    if sock is not None:
        try:
            fd = sock.detach()
        except OSError:
            fd = -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
    if wrapper is not None:
        conn._socket = None
