"""Parking, the fast path of ``release="transaction"``, on every vendor with a server.

Between two statements of one session the connection is parked at the
wrapper's spot: given back (available to anybody who finds the pool empty),
and taken back by the session's next statement without a checkout. Each test
here fails if parking is missing or if it skips one of its rules: nothing
parks while a client waits, with ``reset="session"``, after an error or past
``max_lifetime``; what is parked is counted as available, goes back to the
pool when the session ends or its wrapper is dropped, and is closed with the
pool; a forked child never takes its parent's.
"""

from __future__ import annotations

import gc
import itertools
import random
import threading
import time
from typing import Any

import pytest
from django.db import DatabaseError

from ..probes import Probe
from .test_pool_contract import in_forked_child, wait_until

pytestmark = pytest.mark.vendor

DATABASE = "multipool_release"
PARKING = {"min_size": 1, "max_size": 1, "timeout": 2, "release": "transaction"}


@pytest.fixture(autouse=True)
def _only_live_vendors(vendor: str, probe: Probe) -> None:
    if vendor == "oracle":
        pytest.skip("python-oracledb's pool does not park: its adapter releases (the default)")
    probe.ensure_database(DATABASE)


@pytest.fixture
def session(make_wrapper: Any) -> Any:
    """A wrapper with ``PARKING`` options (overridable); another on its pool with ``alias=``."""

    def make(alias: str | None = None, **options: Any) -> Any:
        return make_wrapper(alias=alias, settings={"name": DATABASE}, **{**PARKING, **options})

    return make


def one(wrapper: Any, sql: str) -> Any:
    with wrapper.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_statements_of_one_session_take_their_parked_connection_back(
    session: Any, probe: Probe
) -> None:
    wrapper = session()
    first_id = one(wrapper, probe.backend_id_sql)
    adapter = wrapper._released_to
    checkouts = adapter.stats().requests_num
    ids = {one(wrapper, probe.backend_id_sql) for _ in range(20)}
    assert ids == {first_id}
    # Twenty statements, no checkout through the pool: each took back the parked one.
    assert adapter.stats().requests_num == checkouts
    assert wrapper.connection is None and adapter.parked == 1


def test_a_parked_connection_is_counted_available_not_in_use(session: Any) -> None:
    wrapper = session()
    one(wrapper, "SELECT 1")
    adapter = wrapper._released_to
    stats = adapter.stats()
    assert adapter.parked == 1
    assert adapter.checked_out == 0
    assert stats.pool_available == stats.pool_size == 1
    assert stats.in_use == 0


def test_another_session_takes_a_parked_connection_when_the_pool_is_empty(
    session: Any, probe: Probe
) -> None:
    first = session()
    second = session(alias=first.alias)  # same pool, max_size=1
    first_id = one(first, probe.backend_id_sql)
    # The only connection is parked at first's spot: second takes it from there.
    assert one(second, probe.backend_id_sql) == first_id
    assert first.pool is None or first.connection is None
    # ... and first, whose spot is empty now, takes it back from second's.
    assert one(first, probe.backend_id_sql) == first_id
    assert probe.count_connections(DATABASE) == 1


def test_nothing_parks_while_a_client_waits(session: Any) -> None:
    wrapper = session(timeout=3)
    with wrapper.cursor() as cursor:  # holds the only connection
        cursor.execute("SELECT 1")
        adapter = wrapper.pool
        got: list[Any] = []
        waiter = threading.Thread(target=lambda: got.append(adapter.acquire()))
        waiter.start()
        assert wait_until(lambda: adapter.stats().requests_waiting == 1, timeout=2)
        started = time.monotonic()
    # The cursor's close gave the connection back: straight to the waiter,
    # not parked for a next statement of this session.
    waiter.join(timeout=3)
    assert got, "the waiter timed out while the connection sat parked"
    assert time.monotonic() - started < 1.0
    assert adapter.parked == 0
    adapter.release(got[0])


def test_reset_session_releases_after_every_statement(session: Any, probe: Probe) -> None:
    wrapper = session(reset="session")
    one(wrapper, probe.backend_id_sql)
    assert wrapper._released_to.parked == 0
    with wrapper.cursor() as cursor:
        for sql in probe.session_state_set:
            cursor.execute(sql)
    # Session state holds the connection until the session ends (session_state="hold").
    assert wrapper.connection is not None
    wrapper.close()
    clean = session(alias=wrapper.alias, reset="session")
    # The reset ran at the release: the next statement sees a clean session.
    assert one(wrapper, probe.session_state_get) == one(clean, probe.session_state_get)


def test_an_error_releases_instead_of_parking(session: Any) -> None:
    wrapper = session()
    with pytest.raises(DatabaseError), wrapper.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM no_such_table")
    # A connection that failed may be broken: the pool's return path tests it.
    assert wrapper.errors_occurred
    assert wrapper._released_to.parked == 0
    assert one(wrapper, "SELECT 1") == 1
    # Django clears the flag at the session's next connect(); parking resumes.
    wrapper.close()
    one(wrapper, "SELECT 1")
    assert wrapper._released_to.parked == 1


def test_a_connection_past_max_lifetime_is_retired_not_parked(session: Any, probe: Probe) -> None:
    wrapper = session(max_lifetime=0.5, timeout=10)
    first_id = one(wrapper, probe.backend_id_sql)
    time.sleep(0.6)
    # Past its lifetime while parked: retired at the latest when given back
    # again, never parked for ever by a session that keeps running statements.
    ids = [one(wrapper, probe.backend_id_sql) for _ in range(2)]
    assert ids[-1] != first_id


def test_closing_the_session_gives_the_parked_connection_back(session: Any) -> None:
    wrapper = session()
    one(wrapper, "SELECT 1")
    adapter = wrapper._released_to
    assert adapter.parked == 1
    wrapper.close()
    assert adapter.parked == 0
    assert adapter.stats().pool_available == 1


def test_a_dropped_session_gives_its_parked_connection_back(session: Any) -> None:
    owner = session()  # the fixture closes this alias's pool after the test
    adapters: list[Any] = []

    def in_a_thread_that_ends() -> None:
        # Another wrapper of the alias, as Django makes one per thread, and
        # dropped with the thread without close().
        wrapper = type(owner)(owner.settings_dict, owner.alias)
        one(wrapper, "SELECT 1")
        adapters.append(wrapper._released_to)

    thread = threading.Thread(target=in_a_thread_that_ends)
    thread.start()
    thread.join()
    gc.collect()
    [adapter] = adapters
    # The wrapper's finaliser only queued the work: the janitor does it.
    assert wait_until(lambda: adapter.parked == 0, timeout=5)
    assert adapter.stats().pool_available == 1


def test_closing_the_pool_closes_parked_connections(session: Any, probe: Probe) -> None:
    wrapper = session()
    one(wrapper, "SELECT 1")
    adapter = wrapper._released_to
    assert probe.count_connections(DATABASE) == 1
    wrapper.close_pool()  # as a settings change or a dropped test database does
    assert adapter.closed and adapter.parked == 0
    assert wait_until(lambda: probe.count_connections(DATABASE) == 0, timeout=5)
    # The session starts over on a new pool.
    assert one(wrapper, "SELECT 1") == 1


def test_a_connection_idle_past_check_is_checked_when_retaken(session: Any, probe: Probe) -> None:
    wrapper = session(check=0.2, timeout=10)
    first_id = one(wrapper, probe.backend_id_sql)
    probe.kill(first_id)
    time.sleep(0.3)
    # The parked connection died while parked: the retake's check finds out
    # and the statement runs on a new one, without an error.
    assert one(wrapper, probe.backend_id_sql) != first_id


def test_a_forked_child_never_takes_its_parents_parked_connection(
    session: Any, probe: Probe
) -> None:
    wrapper = session(max_size=2)
    parent_id = one(wrapper, probe.backend_id_sql)
    assert wrapper._released_to.parked == 1

    def in_child() -> Any:
        found = one(wrapper, probe.backend_id_sql)
        wrapper.close()
        return found

    child_id = in_forked_child(in_child)
    assert child_id and child_id != str(parent_id)
    # The parent's session is untouched and still parked.
    assert one(wrapper, probe.backend_id_sql) == parent_id


def test_many_sessions_on_few_connections_never_share_one_at_a_time(
    session: Any, probe: Probe
) -> None:
    # 6 threads, 2 connections, pauses between statements: a statement's
    # connection is retaken from its spot, taken from another thread's spot
    # (that thread pausing), or waited for. Each thread notes when it
    # certainly held which server session (between cursor() and its close);
    # two threads in one session at overlapping times would be a mix-up.
    owner = session(max_size=2, timeout=10)
    sleep = {"postgresql": "SELECT pg_sleep(0.001)", "mysql": "SELECT SLEEP(0.001)"}[owner.vendor]
    held: list[tuple[str, float, float, int]] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        wrapper = type(owner)(owner.settings_dict, owner.alias)
        try:
            for _ in range(60):
                with wrapper.cursor() as cursor:
                    started = time.monotonic()
                    cursor.execute(probe.backend_id_sql)
                    backend = str(cursor.fetchone()[0])
                    cursor.execute(sleep)
                    cursor.fetchall()
                    held.append((backend, started, time.monotonic(), n))
                time.sleep(random.random() / 200)  # parked meanwhile: up for taking
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            wrapper.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(held) == 6 * 60
    by_session: dict[str, list[tuple[float, float, int]]] = {}
    for backend, started, ended, n in held:
        by_session.setdefault(backend, []).append((started, ended, n))
    assert len(by_session) <= 2
    for spans in by_session.values():
        spans.sort()
        for (_, ended, n), (started, _, m) in itertools.pairwise(spans):
            assert ended < started or n == m, "two threads used one session at once"


def test_an_adapter_that_does_not_park_releases_at_every_statement(
    session: Any, probe: Probe
) -> None:
    """Parking is one optional capability: turned off, the pool's return path serves."""
    wrapper = session()
    one(wrapper, "SELECT 1")
    adapter = wrapper._released_to
    adapter.parks = False
    try:
        one(wrapper, "SELECT 1")  # takes back what parked before; gives it back released
        checkouts = adapter.stats().requests_num
        ids = {one(wrapper, probe.backend_id_sql) for _ in range(5)}
        assert len(ids) == 1  # max_size=1: the same server session, through the pool
        assert adapter.parked == 0
        assert adapter.stats().requests_num == checkouts + 5  # a checkout each
        assert adapter.checked_out == 0
    finally:
        adapter.parks = True
