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

They are called through ctypes. A pool's first connection checks the
status read against ``get_autocommit()``, mysqlclient's own view of the same
flags, and against a transaction it opens; a library that answers otherwise
(or lacks the function) leaves the adapter treating every session as
possibly in a transaction. The same check locates the flags inside the
handle, so that each return reads them as one memory word (a foreign call
costs a few microseconds, on every return); each connection's view is
compared with the getter before use.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

__all__ = [
    "SERVER_MORE_RESULTS_EXIST",
    "SERVER_STATUS_AUTOCOMMIT",
    "SERVER_STATUS_IN_TRANS",
    "can_reset_connection",
    "reset_connection",
    "server_status",
    "status_readable",
    "status_reader",
]

# mysql_com.h, the same in both client libraries.
SERVER_STATUS_IN_TRANS = 1
SERVER_STATUS_AUTOCOMMIT = 2
SERVER_MORE_RESULTS_EXIST = 8

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
    states and in a transaction, on a connection nobody uses yet: five round
    trips, once per pool. Also locates the flags inside the handle (see
    :func:`status_reader`).
    """
    before = conn.get_autocommit()
    seen: list[tuple[int, frozenset[int]]] = []
    try:
        for mode in (not before, before):
            conn.autocommit(mode)
            status = server_status(conn)
            if status is None or bool(status & SERVER_STATUS_AUTOCOMMIT) != conn.get_autocommit():
                return False
            seen.append((status, _offsets_holding(conn, status)))
        conn.query("START TRANSACTION")
        status = server_status(conn)
        if status is not None:
            seen.append((status, _offsets_holding(conn, status)))
        conn.rollback()
        if status is None or not status & SERVER_STATUS_IN_TRANS:
            return False
    finally:
        conn.autocommit(before)
    global _status_offset
    if len({status for status, _ in seen}) == len(seen):  # three different values
        common = frozenset.intersection(*(offsets for _, offsets in seen))
        _status_offset = min(common) if len(common) == 1 else None
    return True


#: Where the status flags sit in the ``MYSQL`` handle, once located: reading
#: them there is a memory read instead of a foreign call per return. None:
#: not located (the foreign call is used).
_status_offset: int | None = None


def _offsets_holding(conn: Any, value: int) -> frozenset[int]:
    """Offsets in ``conn``'s handle of the aligned 32-bit words equal to ``value``.

    Only inside the connection object, which embeds the handle: never
    memory it does not own. A proxy around it (OpenTelemetry's
    instrumentation returns one from ``connect()``) is looked through.
    """
    import MySQLdb._mysql

    real = conn
    if not isinstance(type(real), type) or not issubclass(type(real), MySQLdb._mysql.connection):
        real = getattr(conn, "__wrapped__", None)
        if real is None or not issubclass(type(real), MySQLdb._mysql.connection):
            return frozenset()
    handle = _handle(real)
    start, end = id(real), id(real) + type(real).__basicsize__
    if handle is None or not start <= handle < end:
        return frozenset()
    return frozenset(
        offset
        for offset in range(0, end - handle - 4, 4)
        if ctypes.c_uint.from_address(handle + offset).value == value
    )


def status_reader(conn: Any) -> Any | None:
    """An object whose ``.value`` is ``conn``'s status flags, read in place; None if unknown.

    A view of the handle inside ``conn``: valid as long as ``conn`` is, which
    is why the adapter keeps it on the connection. Checked against the
    library's getter before it is handed out.
    """
    handle = _handle(conn)
    if _status_offset is None or handle is None:
        return None
    view = ctypes.c_uint.from_address(handle + _status_offset)
    return view if view.value == server_status(conn) else None


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
