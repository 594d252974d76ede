"""The behaviour every vendor's pool must show, asserted against a live server.

Each test runs once per vendor in tests/vendors.py that has a server. The
pools are built exactly as the backend builds them (``make_pool``), so this
is the adapter contract *and* the schema's meaning on that vendor.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError

from django_multipool import PoolClosed, PoolStats, PoolTimeout, TooManyRequests

from ..driver_api import set_autocommit
from ..probes import Probe

pytestmark = pytest.mark.vendor


def backend_id(conn: Any, probe: Probe) -> Any:
    cur = conn.cursor()
    try:
        cur.execute(probe.backend_id_sql)
        return cur.fetchone()[0]
    finally:
        cur.close()


def run(conn: Any, sql: str) -> list[Any]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


def in_forked_child(work: Callable[[], object]) -> str:
    """Run ``work`` in a forked child; return what it returned, as text.

    Fails if the child raised or exited otherwise than through here.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.write(write, str(work()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 100).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    return answer


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_hands_out_the_drivers_own_connection_and_reuses_it(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=1, max_size=1)
    conn = pool.acquire()
    assert type(conn).__module__.split(".")[0] in {"psycopg", "mysql", "MySQLdb", "oracledb"}
    first = backend_id(conn, probe)
    pool.release(conn)
    conn = pool.acquire()
    assert backend_id(conn, probe) == first
    pool.release(conn)


def test_exhausted_pool_times_out_with_a_clear_operational_error(make_pool: Any) -> None:
    pool = make_pool(min_size=0, max_size=1, timeout=0.5, name="contract-pool")
    held = pool.acquire()
    started = time.monotonic()
    with pytest.raises(PoolTimeout) as caught:
        pool.acquire()
    waited = time.monotonic() - started
    pool.release(held)
    assert 0.3 <= waited <= 0.7
    assert isinstance(caught.value, OperationalError)
    message = str(caught.value)
    assert "'contract-pool'" in message
    assert "all 1 connections (max_size)" in message
    assert "0.50 s" in message


def test_acquire_timeout_argument_overrides_the_config(make_pool: Any) -> None:
    pool = make_pool(min_size=0, max_size=1, timeout=30)
    held = pool.acquire()
    started = time.monotonic()
    with pytest.raises(PoolTimeout):
        pool.acquire(timeout=0.2)
    assert time.monotonic() - started < 1.0
    pool.release(held)


def test_full_wait_queue_refuses_at_once(make_pool: Any) -> None:
    pool = make_pool(min_size=0, max_size=1, timeout=2, max_waiting=1)
    held = pool.acquire()
    waiter_got: list[Any] = []
    waiter = threading.Thread(target=lambda: waiter_got.append(pool.acquire()))
    waiter.start()
    assert wait_until(lambda: pool.stats().requests_waiting == 1)
    started = time.monotonic()
    with pytest.raises(TooManyRequests) as caught:
        pool.acquire()
    assert time.monotonic() - started < 0.2
    assert isinstance(caught.value, OperationalError)
    assert "max_waiting" in str(caught.value)
    pool.release(held)
    waiter.join(5)
    assert len(waiter_got) == 1
    pool.release(waiter_got[0])


def test_closed_pool_refuses(make_pool: Any) -> None:
    pool = make_pool(max_size=1)
    pool.close()
    assert pool.closed
    with pytest.raises(PoolClosed):
        pool.acquire()


def test_connection_released_after_close_is_closed_not_lost(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=0, max_size=1)
    conn = pool.acquire()
    pool.close()
    pool.release(conn)
    assert wait_until(lambda: probe.count_connections() == 0)


def test_stats_have_the_shared_keys_and_count(make_pool: Any) -> None:
    pool = make_pool(min_size=0, max_size=2)
    before = pool.stats()
    assert isinstance(before, PoolStats)
    assert set(before.as_dict()) == {f.name for f in dataclasses.fields(PoolStats)}
    conn = pool.acquire()
    time.sleep(0.05)
    pool.release(conn)
    after = pool.stats()
    assert after.requests_num == before.requests_num + 1
    assert after.usage_ms >= 40
    assert after.pool_max == 2 and after.pool_min == 0
    assert after.connections_num >= 1
    assert after.pool_available == after.pool_size
    assert pool.checked_out == 0


def test_min_size_connections_are_opened_in_the_background(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=3, max_size=5)
    assert wait_until(lambda: pool.stats().pool_available == 3)
    assert probe.count_connections() == 3


def test_max_size_caps_server_connections_under_50_threads(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=0, max_size=5, timeout=30)
    errors: list[BaseException] = []
    peak = 0
    stop = threading.Event()

    def hammer() -> None:
        try:
            for _ in range(20):
                conn = pool.acquire()
                try:
                    run(conn, "SELECT 1")
                finally:
                    pool.release(conn)
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, probe.count_connections())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=hammer) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stop.set()
    sampler.join()
    assert errors == []
    assert 1 <= peak <= 5
    stats = pool.stats()
    assert stats.requests_num >= 1000
    assert stats.pool_size <= 5


def test_max_lifetime_retires_connections_on_return(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=1, max_size=1, max_lifetime=0.5)
    conn = pool.acquire()
    first = backend_id(conn, probe)
    time.sleep(0.6)
    pool.release(conn)  # expired: closed and replaced, never handed out again
    conn = pool.acquire(timeout=10)
    assert backend_id(conn, probe) != first
    pool.release(conn)


def test_max_idle_shrinks_towards_min_size(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=1, max_size=3, max_idle=0.5, timeout=10)
    conns = [pool.acquire() for _ in range(3)]
    for conn in conns:
        pool.release(conn)
    assert pool.stats().pool_size == 3
    assert wait_until(lambda: pool.stats().pool_size == 1, timeout=15)
    assert wait_until(lambda: probe.count_connections() == 1)


def test_check_true_replaces_a_killed_connection_without_an_error(
    make_pool: Any, probe: Probe
) -> None:
    pool = make_pool(min_size=1, max_size=1, check=True, timeout=10)
    conn = pool.acquire()
    victim = backend_id(conn, probe)
    pool.release(conn)
    probe.kill(victim)
    time.sleep(0.2)
    conn = pool.acquire()
    assert backend_id(conn, probe) != victim
    pool.release(conn)
    assert pool.stats().connections_lost >= 1


def test_check_interval_skips_recently_used_connections(make_pool: Any, probe: Probe) -> None:
    # The connection was used less than `check` seconds ago, so it is not
    # validated: the kill shows at first use, and the pool then replaces it.
    pool = make_pool(min_size=1, max_size=1, check=3600, timeout=10)
    conn = pool.acquire()
    victim = backend_id(conn, probe)
    pool.release(conn)
    probe.kill(victim)
    time.sleep(0.2)
    conn = pool.acquire()
    with pytest.raises(Exception):  # noqa: B017 - each driver has its own error class
        backend_id(conn, probe)
    pool.release(conn)
    conn = pool.acquire()
    assert backend_id(conn, probe) != victim
    pool.release(conn)


def test_check_interval_validates_connections_idle_longer(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=1, max_size=1, check=0.3, timeout=10)
    conn = pool.acquire()
    victim = backend_id(conn, probe)
    pool.release(conn)
    probe.kill(victim)
    time.sleep(0.5)
    conn = pool.acquire()
    assert backend_id(conn, probe) != victim
    pool.release(conn)


def test_discard_replaces_the_connection(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=1, max_size=1, timeout=10)
    conn = pool.acquire()
    first = backend_id(conn, probe)
    pool.discard(conn)
    conn = pool.acquire()
    assert backend_id(conn, probe) != first
    pool.release(conn)


@pytest.mark.parametrize("reset", ["rollback", "session"])
def test_an_open_transaction_never_reaches_the_next_borrower(
    make_pool: Any, probe: Probe, reset: str
) -> None:
    probe.execute_in_test_db("DROP TABLE IF EXISTS multipool_tx")
    probe.execute_in_test_db("CREATE TABLE multipool_tx (x int)")
    pool = make_pool(min_size=1, max_size=1, reset=reset)
    conn = pool.acquire()
    set_autocommit(conn, False)
    run(conn, "INSERT INTO multipool_tx VALUES (1)")
    pool.release(conn)
    conn = pool.acquire(timeout=10)
    set_autocommit(conn, True)
    assert run(conn, "SELECT count(*) FROM multipool_tx")[0][0] == 0
    pool.release(conn)


def test_reset_session_wipes_session_state(make_pool: Any, probe: Probe) -> None:
    pool = make_pool(min_size=1, max_size=1, reset="session")
    conn = pool.acquire()
    clean = run(conn, probe.session_state_get)
    for sql in probe.session_state_set:
        run(conn, sql)
    assert run(conn, probe.session_state_get) != clean
    first = backend_id(conn, probe)
    pool.release(conn)
    conn = pool.acquire(timeout=10)
    # What the adapter declares is what happens: the cost differs by vendor.
    reused = backend_id(conn, probe) == first
    assert reused is type(pool).resets_session_in_place
    assert run(conn, probe.session_state_get) == clean
    pool.release(conn)


def test_reset_rollback_keeps_session_state(make_pool: Any, probe: Probe) -> None:
    # The documented difference: "rollback" only ends transactions.
    pool = make_pool(min_size=1, max_size=1, reset="rollback")
    conn = pool.acquire()
    clean = run(conn, probe.session_state_get)
    for sql in probe.session_state_set:
        run(conn, sql)
    pool.release(conn)
    conn = pool.acquire()
    assert run(conn, probe.session_state_get) != clean
    pool.release(conn)


def test_fork_child_builds_its_own_pool(make_wrapper: Any, probe: Probe) -> None:
    wrapper = make_wrapper(min_size=1, max_size=2)
    with wrapper.cursor() as cur:
        cur.execute(probe.backend_id_sql)
        parent_id = cur.fetchone()[0]
    # Still holding the connection at fork time: the worst case.

    def in_child() -> Any:
        with wrapper.cursor() as cur:
            cur.execute(probe.backend_id_sql)
            found = cur.fetchone()[0]
        wrapper.close()
        return found

    child_id = in_forked_child(in_child)
    assert child_id and child_id != str(parent_id)
    with wrapper.cursor() as cur:
        cur.execute(probe.backend_id_sql)
        assert cur.fetchone()[0] == parent_id
    wrapper.close()
    assert wrapper.pool.stats().pool_available >= 1


def test_a_connection_given_back_twice_is_refused_and_the_cap_holds(
    make_pool: Any, probe: Probe
) -> None:
    pool = make_pool(min_size=0, max_size=1, timeout=2)
    conn = pool.acquire()
    pool.release(conn)
    with pytest.raises(ValueError, match="not lent"):
        pool.release(conn)
    conn = pool.acquire()
    pool.discard(conn)
    with pytest.raises(ValueError, match="not lent"):
        pool.discard(conn)
    # Neither mistake made a second connection out of the one slot.
    conn = pool.acquire()
    with pytest.raises(PoolTimeout):
        pool.acquire(timeout=0.3)
    pool.release(conn)
    assert wait_until(lambda: probe.count_connections() <= 1)
    assert pool.checked_out == 0


def test_the_most_recently_returned_connection_is_handed_out_first(
    vendor: str, make_pool: Any, probe: Probe
) -> None:
    if vendor == "oracle":
        pytest.skip("python-oracledb's own pool chooses which session to hand out")
    pool = make_pool(min_size=3, max_size=3)
    held = [pool.acquire() for _ in range(3)]
    ids = [backend_id(conn, probe) for conn in held]
    for conn in held:  # returned oldest first: the last one in is the hottest
        pool.release(conn)
    for _ in range(5):  # one statement after another keeps one hot session
        conn = pool.acquire()
        assert backend_id(conn, probe) == ids[-1]
        pool.release(conn)
    # The others are not starved for good: taking all three gives all three.
    again = [pool.acquire() for _ in range(3)]
    assert sorted(map(str, (backend_id(c, probe) for c in again))) == sorted(map(str, ids))
    for conn in again:
        pool.release(conn)


def test_failed_connects_count_as_errors_not_as_connections(
    vendor: str, make_wrapper: Any
) -> None:
    pool = make_wrapper(
        settings={"NAME": "multipool_no_such_database"}, min_size=0, max_size=1, timeout=1
    ).pool
    with pytest.raises(PoolTimeout) as raised:
        pool.acquire()
    if vendor != "oracle":  # Oracle's NAME is a connect string, its error another story
        # The driver's own reason, not "see the log".
        assert "multipool_no_such_database" in str(raised.value)
    stats = pool.stats()
    assert stats.connections_errors >= 1
    assert stats.connections_num == 0
