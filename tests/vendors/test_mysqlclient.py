"""The mysqlclient ENGINE (django_multipool.backends.mysql) on a live MariaDB.

What this ENGINE does differently from the others because mysqlclient exposes
less: the transaction flag and COM_RESET_CONNECTION come from the C client
library (adapters/_mysqlclient_status.py), a forked child points inherited
descriptors elsewhere instead of closing them. Round trips are counted by
the server (the session's Questions and Com_admin_commands, which counts
COM_PING), on the pool's only connection.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_multipool.adapters import _mysqlclient_status as status
from django_multipool.adapters.mysqlclient import MySQLclientPoolAdapter

from ..probes import Probe
from ..servers import Server, find_server
from . import MYSQL_ENGINES

pytestmark = [pytest.mark.vendor, pytest.mark.parametrize("vendor", ["mysql"], indirect=True)]

_COUNTERS = "('Questions', 'Com_admin_commands')"


@pytest.fixture(scope="session")
def server(vendor: str) -> Server:
    """This module is about the mysqlclient ENGINE, whichever the suite runs on."""
    found, _ = find_server(vendor)
    assert found is not None
    return found.with_engine(MYSQL_ENGINES["mysqlclient"])


def run(conn: Any, sql: str) -> list[Any]:
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


def server_commands(conn: Any) -> int:
    return sum(
        int(value)
        for _, value in run(conn, f"SHOW SESSION STATUS WHERE Variable_name IN {_COUNTERS}")
    )


def round_trips(pool: Any, cycle: Any, cycles: int = 20) -> int:
    """Server commands while ``cycle(pool)`` ran ``cycles`` times (reading excluded)."""
    conn = pool.acquire()
    before = server_commands(conn)
    reading = server_commands(conn) - before
    pool.release(conn)
    for _ in range(cycles):
        cycle(pool)
    conn = pool.acquire()
    after = server_commands(conn)
    pool.release(conn)
    return after - before - 2 * reading


def checkout(pool: Any) -> None:
    pool.release(pool.acquire())


def test_a_checkout_and_return_cost_no_round_trip(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1)
    assert isinstance(pool, MySQLclientPoolAdapter)
    assert round_trips(pool, checkout) == 0


def test_a_return_rolls_back_only_an_open_transaction(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1)

    def in_a_transaction(pool: Any) -> None:
        conn = pool.acquire()
        run(conn, "START TRANSACTION")
        pool.release(conn)

    # START TRANSACTION, then the rollback on return; nothing else.
    assert round_trips(pool, in_a_transaction) == 2 * 20


def test_the_transaction_flag_follows_the_server(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1)
    conn = pool.acquire()
    assert not pool.holds_transaction(conn)
    run(conn, "START TRANSACTION")
    assert pool.holds_transaction(conn)
    run(conn, "SELECT 1")
    assert pool.holds_transaction(conn)
    run(conn, "COMMIT")
    assert not pool.holds_transaction(conn)
    run(conn, "SET autocommit = 0")  # the next statement opens one
    assert pool.holds_transaction(conn)
    pool.release(conn)
    conn = pool.acquire()
    assert conn.get_autocommit() is True
    assert not pool.holds_transaction(conn)
    pool.release(conn)


def test_a_session_reset_keeps_the_session_and_restores_what_connect_set(
    make_pool: Any, probe: Probe
) -> None:
    pool = make_pool(min_size=1, max_size=1, reset="session")
    conn = pool.acquire()
    first = run(conn, probe.backend_id_sql)
    run(conn, "SET NAMES latin1")
    run(conn, "USE information_schema")
    run(conn, "SET autocommit = 0")
    pool.release(conn)
    conn = pool.acquire()
    assert run(conn, probe.backend_id_sql) == first  # COM_RESET_CONNECTION, not a new login
    assert run(conn, "SELECT @@character_set_client, DATABASE(), @@autocommit") == [
        ("utf8mb4", "multipool_test", 1)
    ]
    # The C library's idea of the character set (its escaping uses it) agrees.
    assert conn.character_set_name() == "utf8mb4"
    assert conn.get_autocommit() is True
    pool.release(conn)


def test_a_session_reset_runs_init_command_again(make_wrapper: Any) -> None:
    wrapper = make_wrapper(
        pool={"min_size": 1, "max_size": 1, "reset": "session"},
        settings={"OPTIONS": {"init_command": "SET @multipool_init = 'ran'"}},
    )
    for _ in range(2):
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT @multipool_init")
            assert cursor.fetchone() == ("ran",)
        wrapper.close()


def test_the_status_read_matches_mysqlclients_own(make_pool: Any) -> None:
    # The check the adapter makes once per pool, and the library it relies on.
    pool = make_pool(min_size=1, max_size=1)
    conn = pool.acquire()
    assert status.status_readable(conn)
    flags = status.server_status(conn)
    assert flags is not None and bool(flags & status.SERVER_STATUS_AUTOCOMMIT)
    # Located in the handle (libmariadb, which the suite's mysqlclient is
    # built against), the word follows the getter.
    view = conn._multipool_status
    assert view is not None and view.value == flags
    run(conn, "START TRANSACTION")
    assert view.value == status.server_status(conn) and view.value & status.SERVER_STATUS_IN_TRANS
    run(conn, "ROLLBACK")
    assert view.value == status.server_status(conn)
    pool.release(conn)


def test_a_query_costs_one_round_trip(make_wrapper: Any) -> None:
    wrapper = make_wrapper(min_size=1, max_size=1)
    pool = wrapper.pool

    def query(pool: Any) -> None:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
        wrapper.close()

    query(pool)  # the first one asks the server its version, once per wrapper
    assert round_trips(pool, query) == 20


def test_mariadb_and_its_real_version_as_djangos_backend_sees_them(
    make_wrapper: Any, probe: Probe
) -> None:
    wrapper = make_wrapper(min_size=1, max_size=1)
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
    assert "MariaDB" in version  # the suite's server (tests/servers.py)
    assert wrapper.mysql_is_mariadb is True
    assert wrapper.display_name == "MariaDB"
    assert ".".join(map(str, wrapper.mysql_version)) == version.split("-")[0]
    assert wrapper.features.has_native_uuid_field  # a MariaDB 10.7+ answer
    wrapper.close()


@pytest.mark.parametrize(
    ("option", "equivalent"),
    [("use_pure", None), ("connection_timeout", "connect_timeout"), ("pool_size", None)],
)
def test_mysql_connectors_options_name_the_other_engine(
    make_wrapper: Any, option: str, equivalent: str | None
) -> None:
    wrapper = make_wrapper(settings={"OPTIONS": {option: 1}})
    with pytest.raises(ImproperlyConfigured) as caught:
        wrapper.ensure_connection()
    assert "'django_multipool.backends.mysql_connector'" in str(caught.value)
    if equivalent:
        assert equivalent in str(caught.value)


def test_pool_false_gives_djangos_own_connections(make_wrapper: Any) -> None:
    import MySQLdb

    wrapper = make_wrapper(pool=False)
    wrapper.ensure_connection()
    assert type(wrapper.connection) is MySQLdb.connections.Connection
    assert wrapper.pool is None
    wrapper.close()


def test_fork_child_never_touches_an_unpooled_parent_connection(
    make_wrapper: Any, probe: Probe
) -> None:
    # mysqlclient's close() and its finaliser send COM_QUIT: a child that
    # merely dropped the inherited connection would end the parent's session.
    wrapper = make_wrapper(pool=False)
    with wrapper.cursor() as cursor:
        cursor.execute(probe.backend_id_sql)
        parent_id = cursor.fetchone()[0]
    connection = wrapper.connection
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        import gc

        code = 1
        try:
            wrapper.close()  # the inherited connection was forgotten: nothing to close
            connection.close()  # even closing it reaches nobody
            gc.collect()
            code = 0
        finally:
            os._exit(code)
    _, exit_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(exit_status) == 0
    with wrapper.cursor() as cursor:
        cursor.execute(probe.backend_id_sql)
        assert cursor.fetchone()[0] == parent_id
    wrapper.close()


def test_without_a_readable_status_every_return_rolls_back(make_pool: Any) -> None:
    # A client library that does not tell (Oracle's libmysqlclient): unknown
    # counts as open. A round trip per return, never a transaction carried over.
    pool = make_pool(min_size=1, max_size=1)
    pool._driver._status_readable = False
    conn = pool.acquire()
    assert pool.holds_transaction(conn)
    pool.release(conn)
    assert round_trips(pool, checkout) == 20 + 1  # + the checkout that reads


def test_the_status_word_is_found_through_a_proxy(server: Server) -> None:
    # OpenTelemetry's instrumentation hands out a wrapt proxy from connect():
    # the word is looked for inside the real connection object only.
    import MySQLdb
    import wrapt

    real = MySQLdb.connect(host=server.host, port=server.port, user=server.user, autocommit=True)
    try:
        proxy = wrapt.ObjectProxy(real)
        assert status.status_readable(proxy)
        view = status.status_reader(proxy)
        assert view is not None and view.value == status.server_status(real)
        assert status._offsets_holding(object(), 2) == frozenset()  # not a connection
    finally:
        real.close()


def test_a_killed_connection_is_retired_even_once_its_descriptor_is_reused(
    make_pool: Any, probe: Probe
) -> None:
    """After "Lost connection" the C library closes its socket but reports the
    number still; the next socket opened takes that number. Polled, it looks
    idle and fine: the return must still see the connection is dead."""
    pool = make_pool(min_size=1, max_size=1, check=False, timeout=5)
    conn = pool.acquire()
    dead_id = run(conn, "SELECT CONNECTION_ID()")[0][0]
    probe.kill(dead_id)
    with pytest.raises(Exception, match=r"Lost connection|gone away"):
        run(conn, "SELECT 1")
    number = conn.fileno()
    with pytest.raises(OSError):
        os.fstat(number)  # closed by the C library
    # A connected socket with nothing to read, as a fresh connection's is;
    # it takes the lowest free descriptor: that number.
    squatter, other_end = socket.socketpair()
    try:
        assert squatter.fileno() == number
        lost = pool.stats().connections_lost
        pool.release(conn)
        assert pool.stats().connections_lost == lost + 1
        again = pool.acquire()
        assert run(again, "SELECT CONNECTION_ID()")[0][0] != dead_id
        pool.release(again)
    finally:
        squatter.close()
        other_end.close()
