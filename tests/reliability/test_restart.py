"""Guarantee 1: the server restarts while threads keep querying.

- ``check`` on: requests caught in flight by the shutdown may fail; once the
  server is back, none does (dead connections are found at checkout and
  replaced within the same acquire).
- ``check`` off: at most one failure per pooled connection (its first
  borrower after the restart meets its death), each a clean error (Django's
  ``OperationalError`` through Django, the driver's own error from the
  pool), and the pool refills by itself.
- Either way, no thread hangs.

Run on the pool (``pool_on``) and through Django (``django.db.connections``),
against a private server (tests/reliability/private_servers.py): the shared
servers are never restarted.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connections

from django_multipool import PoolTimeout

from ..driver_api import mysql_driver_errors
from .load import Load, Outcome, django_alias, private_settings, run, wait_until
from .private_servers import PrivateServer

pytestmark = [pytest.mark.vendor, pytest.mark.slow]

#: More pooled connections than threads: with check off each dead one fails
#: a request, so failures outnumber what a shutdown can catch in flight.
THREADS = 3
MIN_SIZE = MAX_SIZE = 6
#: How long the server stays down between stop and start.
DOWN = 0.5
#: Long enough for requests made while the server is down to wait it out.
TIMEOUT = 10.0
#: A thread that has not returned this long after the load stops is hung.
HANG = TIMEOUT + 5

_aliases = itertools.count()


def _ping_sql(vendor: str) -> str:
    return "SELECT 1 FROM DUAL" if vendor == "oracle" else "SELECT 1"


def _pool_request(pool: Any, sql: str) -> Callable[[], None]:
    def request() -> None:
        conn = pool.acquire()
        try:
            run(conn, sql)
        finally:
            # Given back whatever happened, as Django does: finding out that it
            # is dead is the pool's job.
            pool.release(conn)

    return request


def _django_request(alias: str, sql: str) -> Callable[[], None]:
    def request() -> None:
        wrapper = connections[alias]
        try:
            with wrapper.cursor() as cursor:
                cursor.execute(sql)
                cursor.fetchone()
        finally:
            # What Django's request_finished signal does for each alias.
            wrapper.close_if_unusable_or_obsolete()

    return request


def _restart_under(load: Load, private: PrivateServer) -> tuple[float, float]:
    """Restart the server while ``load`` runs; return (stop began, server back)."""
    load.start()
    load.wait_for(40)  # warm: every thread has queried
    stopping = time.monotonic()
    private.restart(down=DOWN)
    back = time.monotonic()
    # Keep the load on until every thread has succeeded after the restart.
    assert wait_until(lambda: _threads_served_after(load, back) == THREADS, 30), (
        "some threads never succeeded after the restart"
    )
    load.wait_for(4 * THREADS)
    hung = load.stop(HANG)
    assert not hung, f"threads still in a request {HANG} s after the load stopped: {hung}"
    return stopping, back


def _failures(load: Load, back: float) -> list[Outcome]:
    """Failed requests, less PoolTimeouts of requests that waited while the server was down.

    Those only happen when a restart outlasts TIMEOUT (a slow restart
    command; never the private servers) and are the pool's answer to it.
    """
    return [
        o for o in load.failures() if not (isinstance(o.error, PoolTimeout) and o.started < back)
    ]


def _threads_served_after(load: Load, moment: float) -> int:
    return len({o.thread for o in load.successes() if o.ended > moment})


def _report(label: str, load: Load, stopping: float, back: float, pool: Any) -> None:
    """The figures (shown with pytest -s): failures, and how long recovery took."""
    failed = _failures(load, back)
    served: set[int] = set()
    first = every_thread = None
    for o in sorted((o for o in load.successes() if o.ended > back), key=lambda o: o.ended):
        first = o.ended if first is None else first
        served.add(o.thread)
        if len(served) == THREADS:
            every_thread = o.ended
            break
    assert first is not None and every_thread is not None
    print(
        f"\n{label}: {len(load.outcomes)} requests, {len(failed)} failed "
        f"({len(load.failures(started_after=back))} started after the server was back; "
        f"{len(load.failures()) - len(failed)} PoolTimeouts while it was down); "
        f"server down {back - stopping:.2f} s; after it was back, first success "
        f"{first - back:.2f} s, every thread served {every_thread - back:.2f} s; "
        f"longest request {max(o.took for o in load.outcomes):.2f} s; "
        f"connections lost {pool.stats().connections_lost}, opened {pool.stats().connections_num}"
    )


@pytest.fixture
def pool_load(restartable: PrivateServer, pool_on: Any) -> Callable[..., tuple[Load, Any]]:
    def make(check: bool) -> tuple[Load, Any]:
        assert restartable.server is not None
        pool = pool_on(
            restartable.server, min_size=MIN_SIZE, max_size=MAX_SIZE, check=check, timeout=TIMEOUT
        )
        sql = _ping_sql(restartable.vendor)
        return Load(_pool_request(pool, sql), THREADS), pool

    return make


def test_pool_with_check_no_request_fails_once_the_server_is_back(
    restartable: PrivateServer, pool_load: Any
) -> None:
    load, pool = pool_load(check=True)
    stopping, back = _restart_under(load, restartable)
    _report(f"{restartable.vendor} pool check=True", load, stopping, back, pool)

    assert not load.failures(started_after=back), load.failures(started_after=back)
    # Only requests the shutdown caught in flight may have failed, not one per
    # pooled connection.
    assert len(_failures(load, back)) <= THREADS
    assert wait_until(lambda: pool.stats().pool_size >= MIN_SIZE)
    assert pool.checked_out == 0


def test_pool_without_check_fails_at_most_once_per_connection_and_refills(
    restartable: PrivateServer, pool_load: Any
) -> None:
    load, pool = pool_load(check=False)
    stopping, back = _restart_under(load, restartable)
    _report(f"{restartable.vendor} pool check=False", load, stopping, back, pool)

    failed = _failures(load, back)
    assert len(failed) <= MAX_SIZE, [o.error for o in failed]
    driver_error = _driver_error(restartable.vendor)
    assert all(isinstance(o.error, driver_error) for o in failed), [o.error for o in failed]
    # Refilled by itself: the last requests of every thread succeeded, and the
    # pool is back at min_size without anybody calling anything.
    last = {o.thread: o for o in load.outcomes}
    assert all(o.error is None for o in last.values())
    assert wait_until(lambda: pool.stats().pool_size >= MIN_SIZE)
    assert pool.checked_out == 0


@pytest.mark.parametrize("check", [True, False], ids=["check", "no-check"])
def test_django_requests_across_a_restart(restartable: PrivateServer, check: bool) -> None:
    alias = f"restart{next(_aliases)}"
    options = {"min_size": MIN_SIZE, "max_size": MAX_SIZE, "check": check, "timeout": TIMEOUT}
    with django_alias(private_settings(restartable), alias, **options):
        load = Load(_django_request(alias, _ping_sql(restartable.vendor)), THREADS)
        stopping, back = _restart_under(load, restartable)
        pool = connections[alias].pool
        _report(f"{restartable.vendor} django check={check}", load, stopping, back, pool)

        failed = _failures(load, back)
        # What `except OperationalError` in a Django app catches, never a
        # driver error or Django's InterfaceError.
        assert all(type(o.error) is OperationalError for o in failed), [o.error for o in failed]
        if check:
            assert not load.failures(started_after=back)
            assert len(failed) <= THREADS
        else:
            assert len(failed) <= MAX_SIZE
        assert wait_until(lambda: pool.stats().pool_size >= MIN_SIZE)
        assert pool.checked_out == 0


def _driver_error(vendor: str) -> type[BaseException] | tuple[type[BaseException], ...]:
    if vendor == "postgresql":
        import psycopg

        return psycopg.OperationalError
    if vendor == "mysql":
        return mysql_driver_errors()  # type: ignore[return-value]
    import oracledb

    return oracledb.Error  # type: ignore[no-any-return]
