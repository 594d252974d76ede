"""The mysql-connector-python internals django-multipool relies on.

Imported first by :mod:`~django_multipool.adapters._mysql_io` and
:mod:`~django_multipool.adapters.mysql_connector`, so that a release without
one of them fails here (:func:`~django_multipool._requires.require`). The
MySQL backend's cursor uses some too: they are listed here, with no Django
import; what the connector's Django backend provides is in
``backends/mysql/_privates.py``.
"""

from __future__ import annotations

from .._requires import Private, require

__all__ = ["PRIVATES"]


_NETWORK = "mysql.connector.network"
_CONNECTION = "mysql.connector.connection:MySQLConnection"

PRIVATES = (
    Private(
        f"{_NETWORK}:NetworkBrokerPlain.__init__",
        "_mysql_io.BufferedBroker subclasses",
        params=("self",),
    ),
    Private(
        f"{_NETWORK}:NetworkBrokerPlain.recv",
        "_mysql_io.BufferedBroker overrides to read ahead",
        params=("self", "sock", "address"),
    ),
    Private(
        f"{_NETWORK}:NetworkBrokerPlain._pktnr",
        "is the packet sequence number BufferedBroker takes over",
        instance=True,
    ),
    Private(
        f"{_NETWORK}:_strioerror",
        "words a socket error as the connector does, in BufferedBroker",
        params=("err",),
    ),
    Private(
        f"{_NETWORK}:MySQLTCPSocket._netbroker",
        "is where _mysql_io installs BufferedBroker",
        instance=True,
    ),
    Private(
        f"{_NETWORK}:MySQLTCPSocket.sock",
        "is the socket the idle check polls and a forked child detaches",
        instance=True,
    ),
    Private(
        f"{_CONNECTION}._handle_server_status",
        "the adapter wraps per connection to keep the server's status flags",
        params=("self", "flags"),
    ),
    Private(
        f"{_CONNECTION}._socket",
        "is the socket wrapper the idle check, _mysql_io and fork handling reach",
        instance=True,
    ),
    Private(
        f"{_CONNECTION}._autocommit",
        "is the connector's cached autocommit, which the reset and the backend read",
        instance=True,
    ),
    Private(
        f"{_CONNECTION}._buffered",
        "picks the cursor class the backend builds without a COM_PING",
        instance=True,
    ),
    Private(
        f"{_CONNECTION}._raw",
        "picks the cursor class the backend builds without a COM_PING",
        instance=True,
    ),
    Private(
        f"{_CONNECTION}.handle_unread_result",
        "the backend calls before building a cursor",
        params=("self",),
    ),
    Private(
        "mysql.connector.cursor:MySQLCursor._connection",
        "is how the backend's cursor reaches the connection's converter",
        instance=True,
    ),
    Private(
        "mysql.connector.cursor:MySQLCursor._process_params",
        "quotes positional parameters for the backend's mysqlclient-style interpolation",
        params=("self", "params"),
    ),
    Private(
        "mysql.connector.cursor:MySQLCursor._process_params_dict",
        "quotes named parameters for the backend's mysqlclient-style interpolation",
        params=("self", "params"),
    ),
    Private(
        "mysql.connector.constants:CNX_POOL_ARGS",
        "names the connector's own pool arguments, which are refused",
    ),
    Private(
        "mysql.connector.constants:DEFAULT_CONFIGURATION",
        "lists the connect() arguments driver_options may hold",
    ),
    Private(
        "mysql.connector.constants:ServerFlag.STATUS_AUTOCOMMIT",
        "is the status flag that shows SQL changed autocommit",
    ),
)

require("django_multipool.adapters.mysql_connector", "mysql-connector-python", PRIVATES)
