"""What the tests do to a driver connection where the drivers' APIs differ."""

from __future__ import annotations

from typing import Any


def set_autocommit(conn: Any, on: bool) -> None:
    """psycopg, python-oracledb and mysql-connector have a property; mysqlclient a method."""
    if callable(conn.autocommit):
        conn.autocommit(on)
    else:
        conn.autocommit = on
