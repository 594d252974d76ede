"""``leak_timeout``: a held connection is reported once, with the stack that
took it; a connection whose thread ended is taken back. On every vendor."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import pytest

from ..probes import Probe
from .test_pool_contract import backend_id, in_forked_child, run, wait_until

pytestmark = pytest.mark.vendor

LEAKS = "django_multipool.leaks"


def leak_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LEAKS]


def checkout_site_of_the_leak(pool: Any) -> Any:
    """A recognisable frame for the stack in the warning."""
    return pool.acquire()


def test_a_connection_held_too_long_is_reported_once_with_its_checkout_stack(
    make_pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LEAKS)
    pool = make_pool(max_size=2, leak_timeout=0.2)
    conn = checkout_site_of_the_leak(pool)
    assert wait_until(lambda: leak_records(caplog), timeout=5)
    time.sleep(0.5)  # several more scans: still one warning
    pool.release(conn)

    [record] = leak_records(caplog)
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert repr(pool.name) in message and "leak_timeout is 0.2 s" in message
    assert "checkout_site_of_the_leak" in message and __file__ in message
    assert "return pool.acquire()" in message  # source lines are in it
    assert pool.stats().leaks_detected == 1
    assert pool.stats().leaks_reclaimed == 0


def test_a_connection_returned_in_time_is_not_reported(
    make_pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LEAKS)
    pool = make_pool(max_size=2, leak_timeout=0.3)
    for _ in range(5):
        pool.release(pool.acquire())
    conn = pool.acquire()
    pool.discard(conn)
    time.sleep(0.8)
    assert leak_records(caplog) == []
    assert pool.stats().leaks_detected == 0


def test_a_connection_whose_thread_ended_is_reclaimed_and_never_reused(
    make_pool: Any, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LEAKS)
    pool = make_pool(min_size=0, max_size=1, leak_timeout=30)
    lost: list[Any] = []

    def borrow_and_vanish() -> None:
        conn = pool.acquire()
        lost.append(backend_id(conn, probe))
        # The thread ends holding the connection; nothing will return it.

    worker = threading.Thread(target=borrow_and_vanish, name="vanishing-worker")
    worker.start()
    worker.join()
    started = time.monotonic()
    conn = pool.acquire(timeout=10)  # max_size=1: only a reclaim frees a slot
    waited = time.monotonic() - started
    try:
        assert backend_id(conn, probe) != lost[0]  # discarded, not handed on
        assert run(conn, "SELECT 1") == [(1,)]
    finally:
        pool.release(conn)

    assert waited < 5, f"reclaim took {waited:.1f} s"
    stats = pool.stats()
    assert (stats.leaks_reclaimed, stats.leaks_detected) == (1, 0)
    [record] = leak_records(caplog)
    assert "'vanishing-worker' ended without giving it back" in record.getMessage()
    assert "borrow_and_vanish" in record.getMessage()
    # The reclaimed session is closed on the server, not just forgotten.
    assert wait_until(lambda: probe.count_connections() <= 1, timeout=5)


def test_a_django_connection_left_open_by_a_finished_thread_is_reclaimed(
    make_wrapper: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LEAKS)
    options = {"min_size": 0, "max_size": 1, "leak_timeout": 30, "timeout": 10}
    leaky = make_wrapper(alias="leaky", **options)
    leaky.inc_thread_sharing()  # lent to the thread below, closed here at teardown

    def request_without_close() -> None:
        with leaky.cursor() as cursor:
            cursor.execute("SELECT 1")
        # No connection.close(): the request_finished handler never ran.

    worker = threading.Thread(target=request_without_close, name="request-thread")
    worker.start()
    worker.join()
    later = make_wrapper(alias="leaky", **options)
    with later.cursor() as cursor:  # waits for the reclaim, max_size=1
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)
    later.close()
    assert later.pool.stats().leaks_reclaimed == 1
    assert "'request-thread' ended" in leak_records(caplog)[0].getMessage()


def test_a_connection_parked_between_statements_is_no_leak_until_taken_back(
    make_wrapper: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LEAKS)
    wrapper = make_wrapper(max_size=2, leak_timeout=0.2, release="transaction")
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
    adapter = wrapper._released_to
    assert adapter.parked == 1  # returned, kept for this session's next statement
    time.sleep(0.6)  # several scans
    assert not leak_records(caplog)
    # Taken back by the next statement, it is on loan again: held too long, reported.
    cursor = wrapper.cursor()
    cursor.execute("SELECT 1")
    try:
        assert wait_until(lambda: leak_records(caplog), timeout=5)
    finally:
        cursor.close()
    assert adapter.stats().leaks_detected == 1


def test_without_leak_timeout_the_pool_keeps_its_own_methods(make_pool: Any) -> None:
    pool = make_pool()
    # Nothing recorded per checkout: the class's fast path, not a wrapper.
    assert not {"acquire", "release", "discard"} & set(vars(pool))
    assert pool.stats().leaks_detected == pool.stats().leaks_reclaimed == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_reclaims_the_parents_connections(
    make_pool: Any, probe: Probe
) -> None:
    parent_pool = make_pool(max_size=2, leak_timeout=0.1)
    held: list[Any] = []
    done = threading.Event()

    def hold() -> None:
        held.append(parent_pool.acquire())
        done.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert wait_until(lambda: held, timeout=10)

    def in_child() -> str:  # the holder thread does not exist here
        child_pool = make_pool(max_size=1, leak_timeout=0.1)  # starts a monitor
        child_pool.release(child_pool.acquire())
        time.sleep(0.6)  # many scans
        return "ok"

    assert in_forked_child(in_child) == "ok"
    try:
        # Still open and still the parent's: a reclaim would have closed it.
        assert run(held[0], "SELECT 1") == [(1,)]
        assert parent_pool.stats().leaks_reclaimed == 0
    finally:
        done.set()
        holder.join()
        parent_pool.release(held[0])
