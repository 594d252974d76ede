"""PostgreSQL quirks: what only psycopg / libpq can show."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import pytest
from psycopg import pq

from django_multipool import PoolTimeout

from ..servers import Server

pytestmark = pytest.mark.vendor


@pytest.fixture(autouse=True)
def _postgresql_only(vendor: str) -> None:
    if vendor != "postgresql":
        pytest.skip("PostgreSQL quirks")


def frontend_messages(conn: Any, work: Callable[[], None]) -> list[str]:
    """Every message libpq sent on ``conn`` during ``work``, from libpq's own trace."""
    with tempfile.TemporaryFile() as log:
        fd = os.dup(log.fileno())  # libpq fdopen()s it and never closes it
        conn.pgconn.trace(fd)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            work()
        finally:
            conn.pgconn.untrace()
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
    return [line for line in lines if line.startswith("F")]


def cycles_on_one_connection(pool: Any, n: int) -> tuple[Any, Callable[[], None]]:
    conn = pool.acquire()
    pool.release(conn)

    def work() -> None:
        for _ in range(n):
            again = pool.acquire()
            assert again is conn
            pool.release(again)

    return conn, work


@pytest.mark.parametrize("options", [{}, {"check": 3600}, {"check": False}])
def test_checkout_with_default_settings_sends_nothing_to_the_server(
    make_pool: Any, options: dict[str, Any]
) -> None:
    pool = make_pool(min_size=1, max_size=1, **options)
    conn, work = cycles_on_one_connection(pool, 200)
    assert frontend_messages(conn, work) == []


def test_check_true_costs_exactly_one_round_trip_per_checkout(make_pool: Any) -> None:
    # The control: the trace does see what the pool sends.
    pool = make_pool(min_size=1, max_size=1, check=True)
    conn, work = cycles_on_one_connection(pool, 50)
    queries = [m for m in frontend_messages(conn, work) if "\tQuery\t" in m]
    assert len(queries) == 50


def test_django_checkout_sends_nothing_to_the_server(make_wrapper: Any) -> None:
    wrapper = make_wrapper(min_size=1, max_size=1)
    wrapper.ensure_connection()
    conn = wrapper.connection
    wrapper.close()

    def work() -> None:
        for _ in range(100):
            wrapper.ensure_connection()
            assert wrapper.connection is conn
            wrapper.close()

    assert frontend_messages(conn, work) == []


def test_a_wrong_database_name_is_named_in_the_timeout(server: Server, make_wrapper: Any) -> None:
    wrapper = make_wrapper(
        min_size=1, max_size=2, timeout=1, settings={"NAME": "multipool_no_such_database"}
    )
    with pytest.raises(PoolTimeout) as caught:
        wrapper.ensure_connection()
    message = str(caught.value)
    assert 'database "multipool_no_such_database" does not exist' in message
    assert "could be opened" in message


def test_a_secret_in_the_driver_error_is_masked(server: Server, make_wrapper: Any) -> None:
    secret = "multipool-s3cret-pw"
    # The password also names the database: whatever libpq echoes, we mask.
    wrapper = make_wrapper(
        min_size=1, max_size=1, timeout=1, settings={"NAME": secret, "PASSWORD": secret}
    )
    with pytest.raises(PoolTimeout) as caught:
        wrapper.ensure_connection()
    assert secret not in str(caught.value)
    assert "********" in str(caught.value)


def test_the_password_is_not_in_the_pools_repr(make_wrapper: Any) -> None:
    secret = "multipool-s3cret-pw"  # trust auth accepts it
    wrapper = make_wrapper(min_size=0, max_size=1, settings={"PASSWORD": secret})
    wrapper.ensure_connection()
    for text in (repr(wrapper.pool), str(wrapper.pool.stats()), repr(wrapper.connection)):
        assert secret not in text
    wrapper.close()


def test_reset_session_reapplies_the_time_zone(make_wrapper: Any) -> None:
    wrapper = make_wrapper(
        min_size=1, max_size=1, reset="session", settings={"TIME_ZONE": "Asia/Tokyo"}
    )
    with wrapper.cursor() as cursor:
        cursor.execute("SHOW TIME ZONE")
        assert cursor.fetchone()[0] == "Asia/Tokyo"
        cursor.execute("SET TIME ZONE 'America/Lima'")
    wrapper.close()
    with wrapper.cursor() as cursor:
        cursor.execute("SHOW TIME ZONE")
        assert cursor.fetchone()[0] == "Asia/Tokyo"
