"""The MySQL adapter's settings checks and the pool core's bookkeeping, no server.

The core (django_multipool/_pool.py) is driver-agnostic; a recording driver
stands in for connections here because nothing below depends on what a
server does. Behaviour against MariaDB is in tests/vendors/test_mysql_pool.py.
"""

from __future__ import annotations

import itertools
import threading
import time
from time import monotonic
from typing import Any

import pytest

from django_multipool import PoolConfig, PoolConfigError, PoolTimeout
from django_multipool._pool import WORKERS, Pool
from django_multipool.adapters.mysql_connector import MySQLConnectorPoolAdapter

from .stand_in_driver import NullDriver


def adapter(**driver_options: Any) -> MySQLConnectorPoolAdapter:
    return MySQLConnectorPoolAdapter(
        PoolConfig(driver_options=driver_options),
        name="unit",
        connect_kwargs={"host": "127.0.0.1", "user": "u", "password": "pw-secret"},
        label="mysql://u@127.0.0.1/db",
    )


def test_driver_options_are_connect_arguments_checked_by_name() -> None:
    assert adapter(connection_timeout=3, read_timeout=5)._driver._kwargs["read_timeout"] == 5
    with pytest.raises(PoolConfigError, match=r"'conect_timeout'.*does not accept"):
        adapter(conect_timeout=3)


@pytest.mark.parametrize(("key", "shared"), [("pool_size", "max_size"), ("pool_name", "name")])
def test_mysql_connectors_pool_options_point_at_the_shared_key(key: str, shared: str) -> None:
    with pytest.raises(PoolConfigError, match=rf"\['pool'\]\[{shared!r}\]"):
        adapter(**{key: 3})


def test_the_c_extension_is_refused_with_the_reason() -> None:
    with pytest.raises(PoolConfigError, match=r"use_pure=False.*fork"):
        adapter(use_pure=False)


def test_pooled_connections_always_use_the_pure_protocol() -> None:
    assert adapter()._driver._kwargs["use_pure"] is True


def test_the_password_stays_out_of_repr() -> None:
    pool = adapter()
    assert "pw-secret" not in repr(pool)
    assert "mysql://u@127.0.0.1/db" in repr(pool)


# -- the core -----------------------------------------------------------------------------


class Conn:
    """A stand-in connection: the core only ever passes it to the driver."""

    def __init__(self, n: int) -> None:
        self.n = n


class RecordingDriver(NullDriver):
    def __init__(self) -> None:
        self.opened = 0
        self.closed: list[int] = []
        self._lock = threading.Lock()  # the pool's workers connect in parallel

    def connect(self) -> Conn:
        with self._lock:
            self.opened += 1
            return Conn(self.opened)

    def close(self, conn: Conn) -> None:
        self.closed.append(conn.n)


def make_core(**options: Any) -> tuple[Pool[Conn], RecordingDriver]:
    driver = RecordingDriver()
    pool: Pool[Conn] = Pool(driver, PoolConfig(**options), name="core")
    pool.open(wait=True)
    return pool, driver


def test_the_most_recently_returned_connection_goes_out_first() -> None:
    pool, _ = make_core(min_size=3, max_size=3)
    a, b, c = (pool.acquire() for _ in range(3))
    for conn in (a, b, c):
        pool.release(conn)
    assert pool.acquire() is c
    pool.close()


def test_waiters_are_served_in_arrival_order() -> None:
    pool, _ = make_core(min_size=1, max_size=1, timeout=5)
    held = pool.acquire()
    served: list[str] = []

    def wait(name: str) -> None:
        conn = pool.acquire()
        served.append(name)
        pool.release(conn)

    first = threading.Thread(target=wait, args=("first",))
    first.start()
    while pool.stats().requests_waiting < 1:
        pass
    second = threading.Thread(target=wait, args=("second",))
    second.start()
    while pool.stats().requests_waiting < 2:
        pass
    pool.release(held)
    first.join(5)
    second.join(5)
    assert served == ["first", "second"]
    pool.close()


class SlowDriver(RecordingDriver):
    """Connecting takes a while; records how many attempts overlapped, and when."""

    def __init__(self, seconds: float, fail: bool = False) -> None:
        super().__init__()
        self.seconds, self.fail = seconds, fail
        self.running = self.most_at_once = 0
        self.attempts: list[tuple[float, float]] = []

    def connect(self) -> Conn:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        started = monotonic()
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
            self.attempts.append((started, monotonic()))
        if self.fail:
            raise OSError("the server is busy")
        return super().connect()


def acquire_all(pool: Pool[Conn], clients: int) -> list[Any]:
    results: list[Any] = []

    def take() -> None:
        try:
            results.append(pool.acquire())
        except PoolTimeout as exc:
            results.append(exc)

    threads = [threading.Thread(target=take) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_a_burst_is_met_by_connection_attempts_in_parallel() -> None:
    driver = SlowDriver(0.1)
    pool: Pool[Conn] = Pool(driver, PoolConfig(min_size=0, max_size=6, timeout=5), name="core")
    pool.open()
    conns = acquire_all(pool, 6)
    assert all(isinstance(conn, Conn) for conn in conns)
    assert driver.most_at_once == WORKERS  # not one after the other
    assert pool.stats().pool_size == 6
    pool.close()


def test_a_failing_server_gets_one_attempt_at_a_time() -> None:
    driver = SlowDriver(0.02, fail=True)
    pool: Pool[Conn] = Pool(driver, PoolConfig(min_size=0, max_size=6, timeout=2.5), name="core")
    pool.open()
    results = acquire_all(pool, 6)
    pool.close()
    assert all(isinstance(result, PoolTimeout) for result in results)
    first_failure = min(ended for _, ended in driver.attempts)
    later = sorted(attempt for attempt in driver.attempts if attempt[0] >= first_failure)
    assert len(later) >= 2  # the backoff retried
    # After the first failure, an attempt starts only once the one before ended.
    assert all(nxt[0] >= prev[1] for prev, nxt in itertools.pairwise(later))


def test_open_wait_reports_the_connect_error() -> None:
    class Refusing(RecordingDriver):
        def connect(self) -> Conn:
            raise ConnectionRefusedError("no server here")

    pool: Pool[Conn] = Pool(Refusing(), PoolConfig(min_size=1, max_size=2), name="down")
    with pytest.raises(PoolTimeout, match="connection attempts failed") as caught:
        pool.open(wait=True, timeout=0.3)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    pool.close()


# -- parking (release="transaction") ---------------------------------------------------


def test_a_parked_connection_goes_back_to_its_spot_or_to_whoever_finds_no_idle_one() -> None:
    pool, _ = make_core(min_size=1, max_size=1, timeout=0.2)
    conn = pool.acquire()
    mine, other = object(), object()
    assert pool.park(mine, conn, now=monotonic())
    assert pool.stats().pool_available == 1 and pool.parked == 1
    assert pool.retake(mine, now=monotonic()) is conn
    assert pool.retake(mine, now=monotonic()) is None  # taken once only
    assert pool.park(mine, conn, now=monotonic())
    assert pool.acquire() is conn  # the only one: taken from the spot
    assert pool.retake(mine, now=monotonic()) is None
    assert pool.retake(other, now=monotonic()) is None
    pool.release(conn)
    pool.close()


def test_a_parked_connection_past_its_lifetime_is_retired_not_handed_out() -> None:
    pool, driver = make_core(min_size=0, max_size=1, max_lifetime=60, timeout=5)
    conn = pool.acquire()
    assert pool.park(object(), conn, now=monotonic())
    pool._parked[next(iter(pool._parked))].expires_at = 0.0  # its lifetime is over
    replacement = pool.acquire()
    assert replacement is not conn
    assert driver.closed == [conn.n]
    pool.release(replacement)
    pool.close()


def test_closing_the_pool_closes_parked_connections() -> None:
    pool, driver = make_core(min_size=1, max_size=1)
    conn = pool.acquire()
    spot = object()
    assert pool.park(spot, conn, now=monotonic())
    pool.close()
    assert driver.closed == [conn.n]
    assert pool.retake(spot, now=monotonic()) is None
    assert pool.stats().pool_size == 0


def test_a_wait_shorter_than_a_connect_says_the_connection_is_still_being_opened() -> None:
    pool: Pool[Conn] = Pool(SlowDriver(0.5), PoolConfig(min_size=0, max_size=1), name="core")
    pool.open()
    with pytest.raises(PoolTimeout, match="1 more still being opened") as raised:
        pool.acquire(timeout=0.1)
    assert "reachable" not in str(raised.value)
    pool.close()


class CountingCondition(threading.Condition):
    """The workers' condition, counting the wake-ups sent to them."""

    def __init__(self, lock: Any) -> None:
        super().__init__(lock)
        self.notified = 0

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)


def counted_core(**options: Any) -> tuple[Pool[Conn], RecordingDriver, CountingCondition]:
    driver = RecordingDriver()
    pool: Pool[Conn] = Pool(driver, PoolConfig(**options), name="core")
    # Before open(): the workers wait on this one.
    counting = pool._worker_wakeup = CountingCondition(pool._lock)
    pool.open(wait=True)
    return pool, driver, counting


def test_a_pool_at_max_size_does_not_wake_its_workers_for_each_waiter() -> None:
    # At max_size a waiter is served by the next return; a wake-up per
    # waiter was a thread switch per queued checkout, for nothing to open.
    pool, driver, counting = counted_core(min_size=2, max_size=2, timeout=5)
    held = [pool.acquire(), pool.acquire()]
    counting.notified = 0
    waiters = [threading.Thread(target=lambda: pool.release(pool.acquire())) for _ in range(5)]
    for waiter in waiters:
        waiter.start()
    while pool.stats().requests_waiting < 5:
        time.sleep(0.001)
    assert counting.notified == 0
    for conn in held:
        pool.release(conn)
    for waiter in waiters:
        waiter.join(5)
    assert driver.opened == 2
    assert counting.notified == 0  # returns that go to a waiter open nothing either
    pool.close()


def test_a_pool_below_max_size_wakes_a_worker_for_a_waiter() -> None:
    pool, driver, counting = counted_core(min_size=0, max_size=2, timeout=5)
    conn = pool.acquire(timeout=0.5)  # well under the workers' nap: woken, not timed
    assert counting.notified >= 1
    assert driver.opened == 1
    pool.release(conn)
    pool.close()
