"""The MySQL pool where mysql-connector's own pool falls short, on a live server.

Each test names the shortfall of ``MySQLConnectionPool`` it guards against
(docs/vendors/mysql.md has the list). Pools are built as the backend builds
them (``make_pool``); round trips are counted by the server, from the
session's own status counters.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from django_multipool import ConnectRefused, PoolTimeout

from ..probes import Probe
from ..servers import Server, find_server
from . import MYSQL_ENGINES

pytestmark = [pytest.mark.vendor, pytest.mark.parametrize("vendor", ["mysql"], indirect=True)]


@pytest.fixture(scope="session")
def server(vendor: str) -> Server:
    """This module is about the mysql-connector ENGINE, whichever the suite runs on."""
    found, _ = find_server(vendor)
    assert found is not None
    return found.with_engine(MYSQL_ENGINES["mysql-connector"])


def run(conn: Any, sql: str) -> list[Any]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


def connection_id(conn: Any) -> int:
    return int(run(conn, "SELECT CONNECTION_ID()")[0][0])


_COUNTERS = "('Questions', 'Com_admin_commands')"


def query(conn: Any, sql: str) -> list[Any]:
    """One COM_QUERY and nothing else (the connector's cursor() also pings)."""
    conn.cmd_query(sql)
    return list(conn.get_rows()[0])


def server_commands(conn: Any) -> int:
    """Commands the server has counted for this session: queries plus COM_PING.

    Reading the counters is itself one question, which callers subtract.
    """
    rows = query(conn, f"SHOW SESSION STATUS WHERE Variable_name IN {_COUNTERS}")
    return sum(int(value) for _, value in rows)


def round_trips(pool: Any, cycle: Any, cycles: int = 20) -> int:
    """Commands the server counted while ``cycle`` ran ``cycles`` times.

    Counted on the pool's only connection (max_size=1) by the server itself.
    The checkout that reads the counters at the end is included: a pool that
    pings on every checkout shows ``cycles + 1``.
    """
    conn = pool.acquire()
    before = server_commands(conn)
    reading = server_commands(conn) - before  # what one reading costs
    pool.release(conn)
    for _ in range(cycles):
        cycle()
    conn = pool.acquire()
    after = server_commands(conn)
    pool.release(conn)
    return after - before - 2 * reading


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def held() -> Iterator[list[tuple[Any, Any]]]:
    """(pool, conn) pairs to give back at the end, whatever the test did."""
    pairs: list[tuple[Any, Any]] = []
    yield pairs
    for pool, conn in pairs:
        if not pool.closed:
            pool.release(conn)


def test_max_size_is_not_capped_at_32(make_pool: Any, probe: Probe, held: Any) -> None:
    # MySQLConnectionPool refuses pool_size > 32.
    pool = make_pool(min_size=0, max_size=40, timeout=30)
    conns = [pool.acquire() for _ in range(40)]
    held.extend((pool, c) for c in conns)
    assert len({connection_id(c) for c in conns}) == 40
    assert probe.count_connections() == 40
    with pytest.raises(PoolTimeout):
        pool.acquire(timeout=0.2)


def test_grows_lazily_from_min_size(make_pool: Any, probe: Probe) -> None:
    # MySQLConnectionPool opens pool_size connections in its constructor.
    pool = make_pool(min_size=2, max_size=8)
    assert wait_until(lambda: pool.stats().pool_size == 2)
    time.sleep(0.3)
    assert probe.count_connections() == 2
    conns = [pool.acquire() for _ in range(3)]
    assert pool.stats().pool_size == 3
    for conn in conns:
        pool.release(conn)
    assert probe.count_connections() == 3


def test_new_connections_are_opened_by_the_pool_not_the_caller(make_pool: Any) -> None:
    pool = make_pool(min_size=0, max_size=2)
    opened_in: list[str] = []
    setup = pool._driver._setup

    def recording_setup(conn: Any) -> None:
        opened_in.append(threading.current_thread().name)
        setup(conn)

    pool._driver._setup = recording_setup
    conn = pool.acquire()
    pool.release(conn)
    assert opened_in and all(name.startswith(f"multipool-{pool.name}-") for name in opened_in)
    assert threading.current_thread().name not in opened_in


def test_a_waiter_takes_a_returned_connection_before_a_slow_new_one(make_pool: Any) -> None:
    # The connection being opened is slow; the one returned meanwhile is
    # handed to the waiter at once, and nobody waits on the slow connect.
    pool = make_pool(min_size=1, max_size=2, timeout=10)
    first = pool.acquire()
    first_id = connection_id(first)
    setup = pool._driver._setup

    def slow_setup(conn: Any) -> None:
        time.sleep(1.5)
        setup(conn)

    pool._driver._setup = slow_setup
    threading.Timer(0.2, pool.release, args=(first,)).start()
    started = time.monotonic()
    second = pool.acquire()
    waited = time.monotonic() - started
    assert connection_id(second) == first_id
    assert waited < 1.0
    pool.release(second)


def test_no_lock_is_held_while_a_connection_is_being_opened(make_pool: Any) -> None:
    # MySQLConnectionPool holds one process-wide lock across connect and
    # ping. Here, while the worker spends 1.5 s opening a connection, other
    # threads check idle connections out and back in without waiting.
    pool = make_pool(min_size=1, max_size=3, timeout=10)
    idle = pool.acquire()
    pool.release(idle)
    setup = pool._driver._setup
    opening = threading.Event()

    def slow_setup(conn: Any) -> None:
        opening.set()
        time.sleep(1.5)
        setup(conn)
        opened.set()

    pool._driver._setup = slow_setup
    opened = threading.Event()
    blocker = pool.acquire()  # the only idle connection
    waiter = threading.Thread(target=lambda: pool.release(pool.acquire()))
    waiter.start()  # queues; the worker starts the slow connect
    assert opening.wait(5)
    pool.release(blocker)  # goes straight to the waiter
    waiter.join(5)
    started = time.monotonic()
    for _ in range(50):
        pool.release(pool.acquire())
        pool.stats()
    assert time.monotonic() - started < 1.0
    assert not opened.is_set(), "the cycles above ran while the connect was under way"


def test_check_interval_pings_only_connections_idle_that_long(make_pool: Any) -> None:
    # MySQLConnectionPool pings on every checkout.
    def cycle_of(pool: Any) -> Any:
        return lambda: pool.release(pool.acquire())

    never = make_pool(min_size=1, max_size=1, check=False)
    assert round_trips(never, cycle_of(never)) == 0
    recent = make_pool(min_size=1, max_size=1, check=3600)
    assert round_trips(recent, cycle_of(recent)) == 0
    always = make_pool(min_size=1, max_size=1, check=True)
    assert round_trips(always, cycle_of(always)) == 20 + 1

    idle_for = make_pool(min_size=1, max_size=1, check=0.2)

    def after_a_pause() -> None:
        time.sleep(0.25)
        idle_for.release(idle_for.acquire())

    # The final checkout follows the last cycle at once: not pinged.
    assert round_trips(idle_for, after_a_pause, cycles=4) == 4


def test_rollback_costs_a_round_trip_only_inside_a_transaction(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1, reset="rollback", check=False)

    def autocommit_cycle() -> None:
        conn = pool.acquire()
        query(conn, "SELECT 1")
        pool.release(conn)

    assert round_trips(pool, autocommit_cycle) == 20  # the SELECTs, nothing else

    def transaction_cycle() -> None:
        conn = pool.acquire()
        conn.start_transaction()  # START TRANSACTION
        pool.release(conn)  # ROLLBACK

    assert round_trips(pool, transaction_cycle) == 2 * 20


def test_session_reset_clears_temporary_tables_and_reapplies_setup(
    make_wrapper: Any,
) -> None:
    wrapper = make_wrapper(
        pool={"min_size": 1, "max_size": 1, "reset": "session"},
        settings={"OPTIONS": {"isolation_level": "read committed"}},
    )
    pool = wrapper.pool
    conn = pool.acquire()
    first = connection_id(conn)
    assert run(conn, "SELECT @@session.tx_isolation") == [("READ-COMMITTED",)]  # MariaDB's name
    run(conn, "CREATE TEMPORARY TABLE multipool_tmp (x int)")
    run(conn, "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    run(conn, "SET @multipool_var = 1")
    conn.autocommit = False
    run(conn, "INSERT INTO multipool_tmp VALUES (1)")
    pool.release(conn)

    conn = pool.acquire()
    assert connection_id(conn) == first
    assert not conn.in_transaction
    assert run(conn, "SELECT @multipool_var, @@session.autocommit") == [(None, 1)]
    # The backend's per-connection setup came back after the server reset.
    assert run(conn, "SELECT @@session.tx_isolation, @@session.sql_auto_is_null") == [
        ("READ-COMMITTED", 0)
    ]
    with pytest.raises(Exception, match="doesn't exist"):
        run(conn, "SELECT * FROM multipool_tmp")
    pool.release(conn)


def test_rollback_reset_keeps_temporary_tables(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1, reset="rollback")
    conn = pool.acquire()
    run(conn, "CREATE TEMPORARY TABLE multipool_tmp (x int)")
    pool.release(conn)
    conn = pool.acquire()
    assert run(conn, "SELECT count(*) FROM multipool_tmp") == [(0,)]
    run(conn, "DROP TEMPORARY TABLE multipool_tmp")
    pool.release(conn)


def test_max_lifetime_never_retires_a_connection_in_use(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=1, max_size=1, max_lifetime=0.3, timeout=10)
    conn = pool.acquire()
    first = connection_id(conn)
    time.sleep(0.6)
    assert connection_id(conn) == first  # still open, still ours
    pool.release(conn)  # now retired
    conn = pool.acquire()
    assert connection_id(conn) != first
    pool.release(conn)


def test_idle_connections_past_their_lifetime_are_replaced_in_the_background(
    make_pool: Any, probe: Probe
) -> None:
    pool = make_pool(min_size=2, max_size=2, max_lifetime=0.5, timeout=10)
    assert wait_until(lambda: pool.stats().pool_available == 2)
    first = pool.stats().connections_num
    assert wait_until(lambda: pool.stats().connections_num >= first + 2, timeout=5)
    assert wait_until(lambda: pool.stats().pool_available == 2)
    assert wait_until(lambda: probe.count_connections() == 2)


def test_a_connection_killed_while_lent_is_replaced_on_return(
    make_pool: Any, probe: Probe
) -> None:
    pool = make_pool(min_size=1, max_size=1, check=False, timeout=10)
    conn = pool.acquire()
    victim = connection_id(conn)
    probe.kill(victim)
    assert wait_until(lambda: pool._driver.is_broken(conn), timeout=5)
    pool.release(conn)  # noticed without a round trip: the socket has hung up
    assert pool.stats().connections_lost == 1
    conn = pool.acquire()
    assert connection_id(conn) != victim
    pool.release(conn)


def test_a_refused_login_fails_at_once_with_the_cause(
    make_wrapper: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2-never-in-logs"
    wrapper = make_wrapper(
        pool={"min_size": 0, "max_size": 2, "timeout": 1.0},
        settings={"PASSWORD": secret, "USER": "multipool_nobody"},
    )
    pool = wrapper.pool
    with caplog.at_level("DEBUG", logger="django_multipool"), pytest.raises(PoolTimeout) as caught:
        pool.acquire()
    # Access denied is a refusal: ConnectRefused (a PoolTimeout), not a wait.
    assert isinstance(caught.value, ConnectRefused)
    assert caught.value.cause == "authentication failed"
    message = str(caught.value)
    assert "none is idle and the attempt to open one failed" in message
    assert caught.value.__cause__ is not None  # the driver's own error
    assert "Access denied" in str(caught.value.__cause__)
    texts = [message, repr(pool), str(caught.value.__cause__), caplog.text]
    assert not [t for t in texts if secret in t]


# -- system calls per query (django_multipool/adapters/_mysql_io.py) ---------------


class SocketCalls:
    """The reads and settimeout() calls that reach CPython's socket: one system call each."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        self.timeouts = 0
        real_recv, real_recv_into = socket.socket.recv, socket.socket.recv_into
        real_settimeout = socket.socket.settimeout

        def recv(sock: socket.socket, *args: Any) -> Any:
            self.reads += 1
            return real_recv(sock, *args)

        def recv_into(sock: socket.socket, *args: Any) -> Any:
            self.reads += 1
            return real_recv_into(sock, *args)

        def settimeout(sock: socket.socket, value: Any) -> None:
            self.timeouts += 1
            real_settimeout(sock, value)

        monkeypatch.setattr(socket.socket, "recv", recv)
        monkeypatch.setattr(socket.socket, "recv_into", recv_into)
        monkeypatch.setattr(socket.socket, "settimeout", settimeout)


def test_a_query_costs_one_read_and_no_timeout_change(
    make_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connector reads a packet in two recv_into() calls and calls
    # settimeout() (an ioctl) before every packet: ~20 system calls, each a
    # release of the GIL, for one row of two columns.
    pool = make_pool(min_size=1, max_size=1)
    conn = pool.acquire()
    calls = SocketCalls(monkeypatch)
    for n in range(20):
        assert query(conn, f"SELECT {n}, 'two'") == [(n, "two")]
    assert calls.timeouts == 0
    assert calls.reads <= 2 * 20  # one per response on loopback; the connector's: 240
    pool.release(conn)


def test_results_larger_than_a_read_arrive_whole(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1)
    conn = pool.acquire()
    big = query(conn, "SELECT REPEAT('ab', 2500000), 'after'")
    assert big == [("ab" * 2_500_000, "after")]
    digits = "(SELECT 0 d" + "".join(f" UNION ALL SELECT {i}" for i in range(1, 10)) + ")"
    rows = query(
        conn,
        f"SELECT a.d * 1000 + b.d * 100 + c.d * 10 + e.d AS n, REPEAT('x', e.d * 30) "
        f"FROM {digits} a, {digits} b, {digits} c, {digits} e ORDER BY n",
    )
    expected = [(n, "x" * (n % 10 * 30)) for n in range(10_000)]
    assert [(int(n), text) for n, text in rows] == expected
    assert query(conn, "SELECT 'next'") == [("next",)]  # nothing left over, nothing missing
    pool.release(conn)


def test_a_compressed_session_keeps_the_connectors_own_reads(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1, driver_options={"compress": True})
    conn = pool.acquire()
    assert type(conn._socket._netbroker).__name__ == "NetworkBrokerCompressed"
    assert query(conn, "SELECT REPEAT('z', 300000)") == [("z" * 300_000,)]
    pool.release(conn)


def test_bytes_read_ahead_on_an_idle_connection_mean_it_is_broken(make_pool: Any) -> None:
    # Poll() cannot see what the broker has already taken off the socket;
    # on an idle connection such bytes are the server's parting words.
    pool = make_pool(min_size=1, max_size=1, check=False)
    conn = pool.acquire()
    assert not pool._driver.is_broken(conn)
    conn._socket._netbroker._buffer += b"\x07\x00\x00\x01\xff"
    assert pool._driver.is_broken(conn)
    pool.release(conn)
    assert pool.stats().connections_lost == 1
