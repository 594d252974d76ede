"""What mysqlclient's C client library knows about a session and does not say.

mysqlclient (``MySQLdb``) keeps the server's status flags of the last reply
in the C library's ``MYSQL`` handle but exposes only one of them
(``get_autocommit()``), and has no call for ``COM_RESET_CONNECTION``. The
pool needs both: whether a transaction is open (a free read, so that a
return rolls back only when there is something to roll back, and
``release="transaction"`` keeps a connection while a raw ``BEGIN`` is open),
and a session reset that keeps the connection.

Both are in the client library mysqlclient is linked against, behind the
handle ``_get_native_connection()`` returns:

- ``mariadb_get_infov(mysql, MARIADB_CONNECTION_SERVER_STATUS, &status)``,
  MariaDB Connector/C (libmariadb, what Debian, Ubuntu, Alpine and the
  MariaDB images build mysqlclient against): reads the handle, no I/O;
- ``mysql_reset_connection(mysql)``: COM_RESET_CONNECTION, in libmariadb
  and in Oracle's libmysqlclient (5.7+).

They are called through ctypes. Each connection's first status read is
checked against ``get_autocommit()``, mysqlclient's own view of the same
flags; a library that answers differently (or lacks the function) makes
:func:`server_status` return None, and the adapter then treats every
session as possibly in a transaction.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

__all__ = [
    "SERVER_STATUS_AUTOCOMMIT",
    "SERVER_STATUS_IN_TRANS",
    "reset_connection",
    "server_status",
    "status_readable",
]

# mysql_com.h, the same in both client libraries.
SERVER_STATUS_IN_TRANS = 1
SERVER_STATUS_AUTOCOMMIT = 2

# enum mariadb_value in libmariadb's mysql.h (stable since Connector/C 3.0).
_MARIADB_CONNECTION_SERVER_STATUS = 30

_CAPSULE_NAME = b"_mysql.connection.native_connection"

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


@functools.cache
def _library() -> Any:
    """The client library loaded for MySQLdb's extension (its symbols and its dependencies')."""
    import MySQLdb._mysql

    return ctypes.CDLL(MySQLdb._mysql.__file__)


@functools.cache
def _get_infov() -> Any | None:
    try:
        function = _library().mariadb_get_infov
    except AttributeError:  # Oracle's libmysqlclient
        return None
    function.restype = ctypes.c_char
    function.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    return function


@functools.cache
def _reset() -> Any | None:
    try:
        function = _library().mysql_reset_connection
    except AttributeError:  # a client library older than MySQL 5.7
        return None
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_void_p]
    return function


def _handle(conn: Any) -> int | None:
    """The ``MYSQL *`` of a connection; None once it is closed."""
    try:
        capsule = conn._get_native_connection()
    except Exception:  # closed: mysqlclient raises ProgrammingError/InterfaceError
        return None
    handle: int | None = _get_pointer(capsule, _CAPSULE_NAME)
    return handle


def server_status(conn: Any) -> int | None:
    """The status flags of the server's last reply on ``conn``; None if unknown. No I/O."""
    get_infov = _get_infov()
    handle = _handle(conn)
    if get_infov is None or handle is None:
        return None
    status = ctypes.c_uint(0)
    if get_infov(handle, _MARIADB_CONNECTION_SERVER_STATUS, ctypes.byref(status)) != b"\x00":
        return None
    return status.value


def status_readable(conn: Any) -> bool:
    """Whether :func:`server_status` tells the truth about ``conn``'s client library.

    Compared with mysqlclient's own reading of the autocommit flag, in both
    states, on a connection nobody else uses yet. Two round trips; the
    adapter asks once per process.
    """
    before = conn.get_autocommit()
    try:
        for mode in (not before, before):
            conn.autocommit(mode)
            status = server_status(conn)
            if status is None or bool(status & SERVER_STATUS_AUTOCOMMIT) != conn.get_autocommit():
                return False
    finally:
        conn.autocommit(before)
    return True


def can_reset_connection() -> bool:
    return _reset() is not None


def reset_connection(conn: Any) -> None:
    """COM_RESET_CONNECTION: end the transaction, drop the session's state, keep the login.

    Raises the driver's OperationalError with the server's answer on failure.
    The call releases the GIL, as mysqlclient's own calls do.
    """
    reset = _reset()
    handle = _handle(conn)
    if reset is None:
        raise RuntimeError("the MySQL client library has no mysql_reset_connection()")
    if handle is None:
        raise conn.OperationalError(2006, "the connection is closed")
    if reset(handle) != 0:
        raise conn.OperationalError(conn.errno(), conn.error())
