"""What the tests do to a driver connection where the drivers' APIs differ."""

from __future__ import annotations

from typing import Any


def set_autocommit(conn: Any, on: bool) -> None:
    """psycopg, python-oracledb and mysql-connector have a property; mysqlclient a method."""
    if callable(conn.autocommit):
        conn.autocommit(on)
    else:
        conn.autocommit = on


def mysql_driver_errors() -> tuple[type[BaseException], ...]:
    """The base classes of both MySQL drivers' errors (whichever are installed)."""
    errors: list[type[BaseException]] = []
    try:
        import MySQLdb

        errors.append(MySQLdb.Error)
    except ImportError:  # pragma: no cover - the test group installs both
        pass
    try:
        import mysql.connector

        errors.append(mysql.connector.Error)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def mysql_in_transaction(conn: Any) -> bool:
    """The server's "in transaction" flag of the last reply, as each driver keeps it."""
    if hasattr(conn, "in_transaction"):  # mysql-connector
        return bool(conn.in_transaction)
    from django_multipool.adapters import _mysqlclient_status as status

    flags = status.server_status(conn)
    assert flags is not None, "this mysqlclient's client library does not report it"
    return bool(flags & status.SERVER_STATUS_IN_TRANS)


def mysql_socket_fileno(conn: Any) -> int:
    if hasattr(conn, "_socket"):  # mysql-connector
        return int(conn._socket.sock.fileno())
    return int(conn.fileno())
