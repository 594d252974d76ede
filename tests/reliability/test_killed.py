"""Guarantee 2: sessions the server kills are detected and replaced.

An administrator (``pg_terminate_backend``, MariaDB ``KILL``, Oracle
``ALTER SYSTEM KILL SESSION``), an idle limit or a failover ends sessions the
pool holds. Whether they sat idle in the pool or were lent out, the pool
must notice, open new ones, and get back to at least ``min_size`` live
sessions; a borrower meets at most one error per killed session, and with
``check`` on none at all.

Kills go through the probe (its own connection) to the shared server, and
only ever to sessions of the pool under test.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import DatabaseError, OperationalError

from ..driver_api import mysql_driver_errors
from ..probes import Probe
from ..servers import Server
from ..vendors import VENDORS
from .load import run, wait_until

pytestmark = pytest.mark.vendor

MIN_SIZE = 3


def backend_id(conn: Any, probe: Probe) -> str:
    # As text: Oracle's SID comes as text from SYS_CONTEXT, as a number from v$session.
    return str(run(conn, probe.backend_id_sql)[0][0])


def live_sessions(vendor: str, probe: Probe, ids: list[Any]) -> list[Any]:
    """Which of ``ids`` the server still runs (a killed Oracle session is gone once marked)."""
    listed = ", ".join(str(int(i)) for i in ids)
    sql = {
        "postgresql": f"SELECT pid FROM pg_stat_activity WHERE pid IN ({listed})",
        "mysql": f"SELECT id FROM information_schema.processlist WHERE id IN ({listed})",
        "oracle": f"SELECT sid FROM v$session WHERE sid IN ({listed}) AND status <> 'KILLED'",
    }[vendor]
    return [str(row[0]) for row in probe.execute(sql)]


def kill_all(vendor: str, probe: Probe, ids: list[Any]) -> None:
    for backend in ids:
        probe.kill(backend)
    # pg_terminate_backend only signals; wait until the sessions are really gone.
    assert wait_until(lambda: not live_sessions(vendor, probe, ids)), "the kills did not happen"


def fill(pool: Any, probe: Probe, n: int) -> list[Any]:
    """Borrow ``n`` connections at once (so ``n`` distinct sessions), return their ids."""
    conns = [pool.acquire() for _ in range(n)]
    try:
        return [backend_id(conn, probe) for conn in conns]
    finally:
        for conn in conns:
            pool.release(conn)


def recovered(pool: Any, probe: Probe, killed: list[Any]) -> list[Any]:
    """Wait until the pool holds min_size sessions again; return min_size live ids from it."""
    assert wait_until(lambda: pool.stats().pool_size >= MIN_SIZE), pool.stats()
    ids = fill(pool, probe, MIN_SIZE)
    assert len(set(ids)) == MIN_SIZE
    assert not set(ids) & set(killed), "a killed session was handed out again"
    return ids


def rounds(pool: Any, probe: Probe, killed: list[Any], count: int) -> list[list[BaseException]]:
    """``count`` rounds of borrowing every connection at once; each round's errors.

    At once, so that every pooled connection is reached whatever order the
    pool hands them out in (LIFO leaves the least recent ones alone otherwise).
    The borrowers only give back what failed, as Django does: finding out
    that it is dead is the pool's job.
    """
    errors: list[list[BaseException]] = []
    for _ in range(count):
        conns = [pool.acquire() for _ in range(MIN_SIZE)]
        errors.append([])
        for conn in conns:
            try:
                assert backend_id(conn, probe) not in killed
            except Exception as exc:
                errors[-1].append(exc)
        for conn in conns:
            pool.release(conn)
    return errors


def test_killed_idle_sessions_are_replaced_at_checkout_with_check_on(
    vendor: str, server: Server, probe: Probe, pool_on: Any
) -> None:
    pool = pool_on(server, min_size=MIN_SIZE, max_size=MIN_SIZE, check=True, timeout=10)
    killed = fill(pool, probe, MIN_SIZE)
    lost_before = pool.stats().connections_lost
    kill_all(vendor, probe, killed)

    # Every request after the kills succeeds: each dead session is found at
    # checkout and the caller gets a live one within the same acquire.
    assert rounds(pool, probe, killed, 2) == [[], []]
    assert pool.stats().connections_lost - lost_before == MIN_SIZE
    recovered(pool, probe, killed)


def test_sessions_never_lent_are_checked_too(
    vendor: str, server: Server, probe: Probe, pool_on: Any
) -> None:
    """Connections the pool opened at start and never lent since are checked
    like the others: killed before their first use, nobody sees it."""
    database = "multipool_killed"  # the pool's sessions are the database's
    probe.ensure_database(database)
    pool = pool_on(
        server, settings={"name": database}, min_size=MIN_SIZE, max_size=MIN_SIZE, check=True
    )
    assert wait_until(lambda: probe.count_connections(database) >= MIN_SIZE)
    killed = sessions_on(vendor, probe, database)
    assert len(killed) == MIN_SIZE
    kill_all(vendor, probe, killed)

    assert rounds(pool, probe, killed, 2) == [[], []]
    recovered(pool, probe, killed)


def sessions_on(vendor: str, probe: Probe, database: str) -> list[Any]:
    sql = {
        "postgresql": "SELECT pid FROM pg_stat_activity WHERE datname = %s",
        "mysql": "SELECT id FROM information_schema.processlist WHERE db = %s",
        "oracle": "SELECT sid FROM v$session WHERE username = UPPER(:1)",
    }[vendor]
    return [str(row[0]) for row in probe.execute(sql, (database,))]


def test_killed_idle_sessions_fail_at_most_once_each_with_check_off(
    vendor: str, server: Server, probe: Probe, pool_on: Any
) -> None:
    pool = pool_on(server, min_size=MIN_SIZE, max_size=MIN_SIZE, check=False, timeout=10)
    killed = fill(pool, probe, MIN_SIZE)
    kill_all(vendor, probe, killed)

    errors = rounds(pool, probe, killed, 3)
    # Each dead session fails its first borrower, and only that one.
    assert [len(e) for e in errors] == [MIN_SIZE, 0, 0], errors
    driver_errors = _driver_errors(vendor)
    assert all(isinstance(e, driver_errors) for e in errors[0]), errors
    recovered(pool, probe, killed)


def test_a_session_killed_while_lent_fails_cleanly_and_is_replaced(
    vendor: str, server: Server, probe: Probe, pool_on: Any
) -> None:
    pool = pool_on(server, min_size=MIN_SIZE, max_size=MIN_SIZE, check=False, timeout=10)
    conn = pool.acquire()
    killed = [backend_id(conn, probe)]
    lost_before = pool.stats().connections_lost
    kill_all(vendor, probe, killed)

    with pytest.raises(_driver_errors(vendor)):
        run(conn, "SELECT 1" if vendor != "oracle" else "SELECT 1 FROM DUAL")
    pool.release(conn)

    assert pool.stats().connections_lost == lost_before + 1
    assert pool.checked_out == 0
    recovered(pool, probe, killed)


@pytest.mark.parametrize("check", [True, False], ids=["check", "no-check"])
def test_django_requests_after_a_kill(
    vendor: str, server: Server, probe: Probe, wrapper_on: Any, check: bool
) -> None:
    """What a Django app sees: with check on nothing; with it off one clean
    OperationalError, and the next request works on a new session."""
    wrapper = wrapper_on(server, min_size=1, max_size=1, check=check, timeout=10)
    killed = [_django_backend_id(wrapper, probe)]
    wrapper.close_if_unusable_or_obsolete()  # the end of the request
    kill_all(vendor, probe, killed)

    if not check:
        with pytest.raises(DatabaseError) as caught:
            _django_backend_id(wrapper, probe)
        # Django's own OperationalError (not the driver's, not an InterfaceError),
        # caused by the driver's error: what `except OperationalError` catches.
        assert isinstance(caught.value, OperationalError), repr(caught.value)
        assert isinstance(caught.value.__cause__, _driver_errors(vendor))
        wrapper.close_if_unusable_or_obsolete()

    new = _django_backend_id(wrapper, probe)
    assert new not in killed
    wrapper.close_if_unusable_or_obsolete()
    pool = wrapper.pool
    assert pool.checked_out == 0
    assert wait_until(lambda: pool.stats().pool_size >= 1)


def test_kills_under_load_leave_min_size_live_sessions(
    vendor: str, server: Server, probe: Probe, pool_on: Any
) -> None:
    """Kills while threads borrow: no thread is stuck, the pool refills."""
    pool = pool_on(server, min_size=MIN_SIZE, max_size=MIN_SIZE + 2, check=True, timeout=10)
    stop = threading.Event()
    seen: set[Any] = set()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def borrow() -> None:
        while not stop.is_set():
            conn = pool.acquire()
            try:
                ident = backend_id(conn, probe)
                with lock:
                    seen.add(ident)
            except Exception as exc:
                with lock:
                    errors.append(exc)
            finally:
                pool.release(conn)

    threads = [threading.Thread(target=borrow, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: len(seen) >= 2)
    with lock:
        victims = list(seen)
    kill_all(vendor, probe, victims)
    assert wait_until(lambda: len(seen - set(victims)) >= 2)
    stop.set()
    for thread in threads:
        thread.join(15)
    assert not any(t.is_alive() for t in threads), "a borrower hung after the kills"

    # Only a session killed in the middle of a borrower's query may fail it.
    assert len(errors) <= len(victims), errors
    assert all(isinstance(e, _driver_errors(vendor)) for e in errors), errors
    assert pool.checked_out == 0
    recovered(pool, probe, victims)


def test_oracle_sessions_that_ended_reach_django_as_operational_error() -> None:
    """Needs no Oracle server: python-oracledb's error for a session that ended
    (DPY-4011, which ORA-00028 "session killed" and ORA-03113 become) is
    Django's OperationalError through our backend, as on the other vendors."""
    oracledb = pytest.importorskip("oracledb")
    from django.db.utils import load_backend
    from oracledb import errors  # private: no public way to make one without a server

    entry = Server(VENDORS["oracle"], "127.0.0.1", 9, "system", "x", "FREEPDB1").settings()
    wrapper = load_backend(entry["ENGINE"]).DatabaseWrapper(entry, "oracle_errors")

    ended = oracledb.DatabaseError(
        errors._Error("ORA-00028: your session has been killed", code=28)
    )
    with pytest.raises(DatabaseError) as caught, wrapper.wrap_database_errors:
        raise ended
    assert type(caught.value) is OperationalError
    assert caught.value.__cause__ is ended

    missing = oracledb.DatabaseError(errors._Error("ORA-00942: table does not exist", code=942))
    with pytest.raises(DatabaseError) as caught, wrapper.wrap_database_errors:
        raise missing
    assert not isinstance(caught.value, OperationalError)


def _django_backend_id(wrapper: Any, probe: Probe) -> str:
    with wrapper.cursor() as cursor:
        cursor.execute(probe.backend_id_sql)
        return str(cursor.fetchone()[0])


def _driver_errors(vendor: str) -> type[BaseException] | tuple[type[BaseException], ...]:
    """The base class of the vendor's driver errors."""
    if vendor == "postgresql":
        import psycopg

        return psycopg.Error
    if vendor == "mysql":
        return mysql_driver_errors()  # type: ignore[return-value]
    import oracledb

    return oracledb.Error  # type: ignore[no-any-return]
