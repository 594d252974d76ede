"""The mysqlclient internals :mod:`django_multipool.adapters.mysqlclient` relies on.

Imported by the adapter before anything else of MySQLdb, so that a release
without one of them fails here (:func:`~django_multipool._requires.require`).
What the C library exposes through ctypes (``mariadb_get_infov``,
``mysql_reset_connection``) is checked, and verified against a real
connection, when the pool opens its first one (``_mysqlclient_status``).
"""

from __future__ import annotations

from .._requires import Private, require

__all__ = ["PRIVATES"]


PRIVATES = (
    Private(
        "MySQLdb._mysql:connection",
        "is the C connection type the transaction-status reader recognises",
    ),
    Private(
        "MySQLdb._mysql:connection._get_native_connection",
        "hands the C library's MYSQL handle to the status reader and the session reset",
    ),
)

require("django_multipool.adapters.mysqlclient", "mysqlclient", PRIVATES)
