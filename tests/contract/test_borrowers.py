"""A borrower that disappears gives its slot back, on every vendor, without leak_timeout.

A thread that ran a query and ended without ``close()``, or a wrapper thrown
away with its connection, can never give it back: the pool takes it back,
closes it (never reuses it) and counts it. Nothing in a finaliser or a weakref
callback takes a lock or does I/O, so a garbage collection while a pool's
lock is held (any allocation under it can start one) cannot deadlock.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from django_multipool._janitor import janitor
from django_multipool.backends.registry import registry

from ..probes import Probe
from .test_pool_contract import backend_id, wait_until

pytestmark = pytest.mark.vendor

DATABASE = "multipool_release"
SMALL = {"min_size": 0, "max_size": 1, "timeout": 5}


@pytest.fixture(autouse=True)
def _database(vendor: str, probe: Probe) -> None:
    probe.ensure_database(DATABASE)


@pytest.fixture
def alias(make_alias: Any) -> Callable[..., str]:
    """Register an alias in django.db.connections, as a site's settings would."""
    names = itertools.count()

    def make(**pool: Any) -> str:
        return make_alias(f"multipool_borrowers_{next(names)}", DATABASE, **{**SMALL, **pool})

    return make


def query_in_a_thread_that_ends(name: str, sql: str) -> Any:
    """Run ``sql`` on the thread's own wrapper of ``name``; the thread never closes it."""
    seen: list[Any] = []

    def request_without_close() -> None:
        with connections[name].cursor() as cursor:
            cursor.execute(sql)
            seen.append(cursor.fetchone()[0])

    worker = threading.Thread(target=request_without_close, name="ended-without-close")
    worker.start()
    worker.join()
    return seen[0]


@pytest.mark.parametrize("release", ["request", "transaction"])
def test_a_thread_that_ended_without_close_gives_its_slot_back(
    alias: Any, probe: Probe, release: str
) -> None:
    name = alias(release=release)
    lost = query_in_a_thread_that_ends(name, probe.backend_id_sql)
    started = time.monotonic()
    with connections[name].cursor() as cursor:  # max_size=1: only a reclaim frees it
        cursor.execute(probe.backend_id_sql)
        (now,) = cursor.fetchone()
    waited = time.monotonic() - started
    connections[name].close()
    assert waited < 5, f"the slot came back after {waited:.1f} s"
    pool = registry.current(name)
    assert pool is not None
    if release == "request":
        # Lent when the thread ended: closed and replaced, never reused.
        assert now != lost
        assert pool.stats().leaks_reclaimed == 1
        assert wait_until(lambda: probe.count_connections(DATABASE) <= 1, timeout=5)
    else:
        # Parked between statements: a returned connection, given back whole.
        assert pool.parked == 0
    assert pool.checked_out == 0


def test_a_dropped_wrapper_gives_its_slot_back_before_a_waiter_times_out(
    make_wrapper: Any, probe: Probe
) -> None:
    owner = make_wrapper(settings={"name": DATABASE}, **{**SMALL, "timeout": 1})
    # Another wrapper of the alias, dropped while its thread (this one) lives
    # on: as a request context thrown away under ASGI. A reference cycle, so
    # only the cyclic collector frees it; it is off here, so the janitor's
    # thread-ended hint does not apply and the waiter's deadline must.
    wrapper = type(owner)(owner.settings_dict, owner.alias)
    with wrapper.cursor() as cursor:
        cursor.execute(probe.backend_id_sql)
        (lost,) = cursor.fetchone()
    pool = wrapper.pool
    gc.disable()
    try:
        del wrapper, cursor
        started = time.monotonic()
        conn = pool.acquire()
        waited = time.monotonic() - started
    finally:
        gc.enable()
    try:
        assert backend_id(conn, probe) != lost
    finally:
        pool.release(conn)
    assert waited < 3, f"took {waited:.1f} s (timeout=1 s, then one more wait)"
    assert pool.stats().leaks_reclaimed == 1


def test_a_live_wrapper_keeps_its_connection_however_idle(make_wrapper: Any) -> None:
    # Keep it when in doubt: a wrapper that still exists may still use it.
    wrapper = make_wrapper(settings={"name": DATABASE}, **SMALL)
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
    gc.collect()
    janitor.sweep()
    assert wrapper.connection is not None
    assert wrapper.pool.stats().leaks_reclaimed == 0


def pool_lock(vendor: str, adapter: Any) -> Any:
    """The lock under which each vendor's pool decides who gets a connection."""
    if vendor == "oracle":
        return adapter._lock
    return adapter._pool._lock  # psycopg_pool's, or our core's (MySQL)


def test_garbage_collected_under_the_pool_lock_does_not_deadlock(alias: Any, vendor: str) -> None:
    name = alias(release="transaction", max_size=2)
    query_in_a_thread_that_ends(name, "SELECT 1")  # its wrapper: garbage, connection parked
    adapter = registry.current(name)
    assert adapter is not None
    finished = threading.Event()

    def collect_under_the_lock() -> None:
        with pool_lock(vendor, adapter):
            gc.collect()  # runs the dropped wrapper's finaliser right here
        finished.set()

    gc.disable()
    try:
        worker = threading.Thread(target=collect_under_the_lock, daemon=True)
        worker.start()
        assert finished.wait(10), "the collection deadlocked under the pool lock"
    finally:
        gc.enable()
    # The finaliser queued its work; the janitor (or the next checkout) did it.
    assert wait_until(lambda: adapter.parked == 0, timeout=5)
    assert adapter.checked_out == 0
    with connections[name].cursor() as cursor:
        cursor.execute("SELECT 1")
    connections[name].close()


def test_counters_are_exact_under_threads(make_pool: Any) -> None:
    pool = make_pool(min_size=2, max_size=4, timeout=10)
    threads, cycles = 8, 150
    before = pool.stats().requests_num

    def borrow() -> None:
        for _ in range(cycles):
            pool.release(pool.acquire())

    workers = [threading.Thread(target=borrow) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stats = pool.stats()
    assert stats.requests_num - before == threads * cycles
    assert pool.checked_out == 0
    # Every connection back (one may still be opening: psycopg_pool grows
    # in the background, and pool_size counts it already).
    assert wait_until(lambda: pool.stats().pool_available == pool.stats().pool_size)


def test_a_connection_given_back_twice_is_refused(make_pool: Any) -> None:
    pool = make_pool(max_size=2)
    conn = pool.acquire()
    pool.release(conn)
    with pytest.raises(ValueError, match="not lent"):
        pool.release(conn)
    with pytest.raises(ValueError, match="not lent"):
        pool.discard(conn)
    assert pool.checked_out == 0
