"""Guarantee 3: network faults, played by a proxy on loopback (tests/reliability/proxy.py).

What the pool guarantees when the server stalls (answers nothing, keeps the
connections open) or the network cuts its connections:

- every wait the pool itself makes on the server is bounded: the checkout's
  ``check`` ping, a new connection, the rollback or reset of a returned
  connection, and Django's end-of-request cleanup. The caller gets a clear
  error (``PoolTimeout``) instead of an indefinite hang;
- a cut connection fails its borrower cleanly (Django's ``OperationalError``),
  once;
- the pool recovers by itself when the network does.

A statement the application has in flight is the driver's to bound, with the
options docs/vendors/<vendor>.md lists under "Faults": tested here where a
driver has one (MySQL's ``read_timeout``).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, OperationalError

from django_multipool import PoolTimeout

from ..probes import Probe
from ..servers import Server
from .load import run, through, wait_until
from .proxy import FaultyProxy

pytestmark = [pytest.mark.vendor, pytest.mark.timeout(40)]

#: The pool's timeout in these tests.
TIMEOUT = 1.0
#: Scheduling noise on a busy machine; an unbounded wait is far longer.
SLACK = 1.5
TABLE = "multipool_reliability_tx"


def ping_sql(vendor: str) -> str:
    return "SELECT 1 FROM DUAL" if vendor == "oracle" else "SELECT 1"


@pytest.fixture
def table(vendor: str, probe: Probe) -> Iterator[str]:
    """A one-column table on the test database, to open transactions with."""
    column = "n NUMBER" if vendor == "oracle" else "n INTEGER"
    drop = f"DROP TABLE {TABLE}"
    with contextlib.suppress(Exception):  # not there (no IF EXISTS on every server)
        probe.execute_in_test_db(drop)
    probe.execute_in_test_db(f"CREATE TABLE {TABLE} ({column})")
    yield TABLE
    probe.execute_in_test_db(drop)


def open_transaction(vendor: str, conn: Any) -> None:
    """Leave ``conn`` inside a transaction that wrote a row."""
    if vendor == "postgresql":
        conn.autocommit = False
    elif vendor == "mysql":
        run(conn, "START TRANSACTION")
    run(conn, f"INSERT INTO {TABLE} (n) VALUES (1)")


def timed(call: Any, *args: Any) -> tuple[float, BaseException | None]:
    began = time.monotonic()
    try:
        call(*args)
    except Exception as exc:
        return time.monotonic() - began, exc
    return time.monotonic() - began, None


def can_query(pool: Any, vendor: str) -> bool:
    try:
        conn = pool.acquire(timeout=TIMEOUT)
    except PoolTimeout:
        return False
    try:
        run(conn, ping_sql(vendor))
        return True
    except Exception:
        return False
    finally:
        pool.release(conn)


def recovery(pool: Any, vendor: str, min_size: int) -> float:
    """Seconds until the pool serves queries and holds min_size connections again."""
    began = time.monotonic()
    assert wait_until(lambda: can_query(pool, vendor), 30), "the pool did not recover"
    assert wait_until(lambda: pool.stats().pool_size >= min_size, 30), pool.stats()
    return time.monotonic() - began


def test_checkout_from_a_stalled_server_is_bounded_then_recovers(
    vendor: str, server: Server, proxy: FaultyProxy, pool_on: Any
) -> None:
    """check on: the ping of an idle connection must not wait for ever."""
    pool = pool_on(
        server,
        settings=through(proxy, server),
        min_size=1,
        max_size=2,
        timeout=TIMEOUT,
        check=True,
    )
    assert can_query(pool, vendor)

    with proxy.stalled():
        waited, error = timed(pool.acquire)
        assert isinstance(error, PoolTimeout), error
        assert isinstance(error, OperationalError)
        assert waited <= TIMEOUT + SLACK, waited
        assert pool.checked_out == 0

    recovered = recovery(pool, vendor, 1)
    print(
        f"\n{vendor} stalled checkout: PoolTimeout after {waited:.2f} s; back in {recovered:.2f} s"
    )


def test_new_connections_to_a_stalled_server_give_up_then_recover(
    vendor: str, server: Server, proxy: FaultyProxy, pool_on: Any
) -> None:
    """No connection yet: the caller waits ``timeout``, and the pool's own
    connection attempt gives up too (its thread is not stuck)."""
    pool = pool_on(
        server, settings=through(proxy, server), min_size=0, max_size=1, timeout=TIMEOUT
    )
    with proxy.stalled():
        waited, error = timed(pool.acquire)
        assert isinstance(error, PoolTimeout), error
        assert waited <= TIMEOUT + SLACK, waited
        # The attempt in the background ends within its connect timeout
        # (max(2 s, timeout) when the settings give none), counted as an error.
        began = time.monotonic()
        assert wait_until(lambda: pool.stats().connections_errors >= 1, 10), pool.stats()
        gave_up = time.monotonic() - began + waited
        # Now the error says why, and saying it costs the caller no extra wait.
        waited_again, error = timed(pool.acquire)
        assert isinstance(error, PoolTimeout), error
        assert waited_again <= TIMEOUT + SLACK, waited_again
        assert "connection attempts failed" in str(error), error

    recovered = recovery(pool, vendor, 0)
    print(
        f"\n{vendor} stalled connect: PoolTimeout after {waited:.2f} s, then "
        f"{waited_again:.2f} s; attempt gave up by {gave_up:.2f} s; recovered {recovered:.2f} s"
    )


@pytest.mark.parametrize("reset", ["rollback", "session"])
def test_returning_a_connection_to_a_stalled_server_is_bounded(
    vendor: str,
    server: Server,
    proxy: FaultyProxy,
    probe: Probe,
    pool_on: Any,
    table: str,
    reset: str,
) -> None:
    """The reset of a returned connection (the rollback of its transaction,
    or the session reset: DISCARD ALL, COM_RESET_CONNECTION) must not wait
    for ever."""
    pool = pool_on(
        server,
        settings=through(proxy, server),
        min_size=1,
        max_size=2,
        timeout=TIMEOUT,
        check=False,
        reset=reset,
    )
    conn = pool.acquire()
    if reset == "rollback":
        open_transaction(vendor, conn)
    else:  # no transaction: the session reset is what talks to the server
        run(conn, ping_sql(vendor))
    lost = pool.stats().connections_lost

    with proxy.stalled():
        waited, error = timed(pool.release, conn)
        assert error is None, error
        assert waited <= TIMEOUT + SLACK, waited
        assert pool.checked_out == 0
        # (psycopg_pool resets sessions in a worker thread: counted a bit later.)
        assert wait_until(lambda: pool.stats().connections_lost == lost + 1, TIMEOUT + SLACK)

    recovered = recovery(pool, vendor, 1)
    # The write was never committed: the server rolled it back with the session.
    assert wait_until(lambda: probe.execute_in_test_db(f"SELECT n FROM {table}") == [])
    print(
        f"\n{vendor} stalled return, reset={reset}: release took {waited:.2f} s; "
        f"recovered {recovered:.2f} s"
    )


def test_cut_connections_fail_once_cleanly_and_the_pool_recovers(
    vendor: str, server: Server, proxy: FaultyProxy, pool_on: Any
) -> None:
    pool = pool_on(
        server,
        settings=through(proxy, server),
        min_size=2,
        max_size=3,
        timeout=TIMEOUT,
        check=True,
    )
    held = pool.acquire()
    run(held, ping_sql(vendor))
    # Open and idle, not only counted: pool_size includes a connection still
    # on its way, which the cut below would miss (one run in ~50 did).
    assert wait_until(lambda: pool.stats().pool_available >= 1), pool.stats()
    assert proxy.cut() >= 2

    waited, error = timed(run, held, ping_sql(vendor))
    assert error is not None and not isinstance(error, PoolTimeout), error
    assert waited <= SLACK, waited
    pool.release(held)
    # The idle one was cut too: check finds it, nobody sees an error.
    for _ in range(3):
        assert can_query(pool, vendor)
    recovered = recovery(pool, vendor, 2)
    print(
        f"\n{vendor} cut: the borrower's error after {waited:.3f} s; recovered {recovered:.2f} s"
    )


# -- the watchdog that bounds the pool's own round trips ---------------------------------------


def test_the_watchdog_ends_a_round_trip_that_overran_and_leaves_others_alone() -> None:
    """No server: a socket pair stands for a connection to one."""
    from django_multipool._watchdog import NoAnswer, bounded, shut_down_socket

    client, server_side = socket.socketpair()
    with client, server_side:
        interrupt = functools.partial(shut_down_socket, client.fileno())
        # Answered in time: nothing happens to the socket.
        server_side.sendall(b"pong")
        with bounded(0.2, interrupt, "a ping"):
            assert client.recv(4) == b"pong"
        time.sleep(0.5)  # past the deadline: the disarmed alarm never goes off
        server_side.sendall(b"again")
        assert client.recv(5) == b"again"
        # Never answered: the blocked recv() is cut short and the block fails.
        began = time.monotonic()
        with (
            pytest.raises(NoAnswer, match=r"did not answer a ping within 0\.20 s"),
            bounded(0.2, interrupt, "a ping"),
        ):
            assert client.recv(4) == b""  # what a shut-down socket reads
        assert 0.2 <= time.monotonic() - began <= 0.2 + SLACK
        with pytest.raises(OSError):
            client.sendall(b"x" * 1_000_000)  # shut down for good, not closed


# -- through Django ------------------------------------------------------------------------


def test_django_requests_on_a_cut_network(
    vendor: str, server: Server, proxy: FaultyProxy, wrapper_on: Any
) -> None:
    wrapper = wrapper_on(
        server,
        settings=through(proxy, server),
        min_size=1,
        max_size=1,  # one connection: the one cut
        timeout=TIMEOUT,
        check=False,
    )
    with wrapper.cursor() as cursor:
        cursor.execute(ping_sql(vendor))
    proxy.cut()
    with pytest.raises(DatabaseError) as caught, wrapper.cursor() as cursor:
        cursor.execute(ping_sql(vendor))
    assert type(caught.value) is OperationalError, repr(caught.value)
    wrapper.close_if_unusable_or_obsolete()  # request_finished
    with wrapper.cursor() as cursor:
        cursor.execute(ping_sql(vendor))
    wrapper.close_if_unusable_or_obsolete()
    assert wrapper.pool.checked_out == 0


def test_django_request_end_on_a_stalled_server_is_bounded(
    vendor: str, server: Server, proxy: FaultyProxy, wrapper_on: Any, table: str
) -> None:
    """Django's request_finished after an error, inside a transaction, with the
    server stalled: the cleanup (is_usable, rollback) must not hang the worker."""
    wrapper = wrapper_on(
        server,
        settings=through(proxy, server),
        min_size=1,
        max_size=2,
        timeout=TIMEOUT,
        check=False,
    )
    wrapper.set_autocommit(False)
    with wrapper.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (n) VALUES (1)")
    with pytest.raises(DatabaseError), wrapper.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM no_such_table")

    with proxy.stalled():
        waited, error = timed(wrapper.close_if_unusable_or_obsolete)
        assert error is None, error
        assert waited <= TIMEOUT + SLACK, waited
        assert wrapper.connection is None

    pool = wrapper.pool
    recovered = recovery(pool, vendor, 1)
    print(f"\n{vendor} stalled request end: {waited:.2f} s; recovered {recovered:.2f} s")


def test_a_statement_in_flight_is_bounded_by_the_drivers_read_timeout(
    vendor: str, server: Server, proxy: FaultyProxy, wrapper_on: Any
) -> None:
    """The user's part (docs/vendors/mysql.md, "Faults"): OPTIONS read_timeout."""
    if vendor != "mysql":
        pytest.skip(
            f"{vendor}'s driver has no client-side timeout for a statement in flight "
            f"against a server that keeps the connection open; docs/vendors/{vendor}.md, "
            f"'Faults', says what bounds it"
        )
    read_timeout = 1
    wrapper = wrapper_on(
        server,
        settings={**through(proxy, server), "OPTIONS": {"read_timeout": read_timeout}},
        min_size=1,
        max_size=2,
        timeout=TIMEOUT,
        check=False,
    )
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
    with proxy.stalled():
        began = time.monotonic()
        with pytest.raises(DatabaseError) as caught, wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
        waited = time.monotonic() - began
        assert type(caught.value) is OperationalError, repr(caught.value)
        assert waited <= read_timeout + SLACK, waited
        timed(wrapper.close_if_unusable_or_obsolete)
    recovered = recovery(wrapper.pool, vendor, 1)
    print(
        f"\n{vendor} statement in flight: OperationalError after {waited:.2f} s; "
        f"recovered {recovered:.2f} s"
    )
