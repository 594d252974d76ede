"""The lending ledger's bookkeeping (django_multipool.ledger), no server.

Connections here are plain objects: nothing below depends on what a driver
or a server does. The same policy against real servers, per vendor, is in
tests/contract/test_borrowers.py and test_leaks.py.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from django_multipool import ledger as ledger_module
from django_multipool._janitor import defer, janitor, run_deferred
from django_multipool.ledger import Ledger, NotLent


class Conn:
    pass


class Borrower:
    """Stands in for a DatabaseWrapper: weak-referenceable, in a cycle like one."""

    def __init__(self) -> None:
        self.me = self


def make(leak_timeout: float | None = None) -> tuple[Ledger, list[Any]]:
    closed: list[Any] = []
    return Ledger("unit", leak_timeout=leak_timeout, reclaim=closed.append), closed


def test_a_connection_given_back_twice_is_refused() -> None:
    ledger, _ = make()
    conn = Conn()
    ledger.lend(conn)
    assert ledger.end(conn) is True
    with pytest.raises(NotLent, match="not lent"):
        ledger.end(conn)
    with pytest.raises(ValueError):  # NotLent is a ValueError, as the core raised
        ledger.end(Conn())


def test_a_dropped_borrower_is_reclaimed_once_and_closed() -> None:
    ledger, closed = make()
    conn, owner = Conn(), Borrower()
    ledger.lend(conn, owner)
    ledger.scan(0.0)
    assert closed == [] and len(ledger) == 1  # alive: kept
    del owner
    gc.collect()
    ledger.scan(1.0)
    ledger.scan(2.0)
    assert closed == [conn]
    assert ledger.reclaimed == 1 and len(ledger) == 0
    # A late return of what was reclaimed is ignored, not an error.
    assert ledger.end(conn) is False


def test_an_ended_thread_alone_reclaims_only_with_leak_timeout() -> None:
    owner = Borrower()
    for leak_timeout, expected in ((None, 0), (30.0, 1)):
        ledger, closed = make(leak_timeout)
        worker = threading.Thread(target=ledger.lend, args=(Conn(), owner))
        worker.start()
        worker.join()
        ledger.scan(0.0)
        assert len(closed) == expected


def test_without_a_borrower_nothing_is_reclaimed_without_leak_timeout() -> None:
    ledger, closed = make()
    worker = threading.Thread(target=ledger.lend, args=(Conn(),))
    worker.start()
    worker.join()
    ledger.scan(0.0)
    assert closed == [] and len(ledger) == 1


def test_the_janitor_collects_for_a_borrower_of_an_ended_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ledger_module, "_last_collect", [0.0])  # none ran lately
    ledger, closed = make()
    janitor.watch(ledger)
    gc.disable()
    try:

        def borrow_and_drop() -> None:
            ledger.lend(Conn(), Borrower())  # a cycle: freed only by a collection

        worker = threading.Thread(target=borrow_and_drop)
        worker.start()
        worker.join()
        assert [loan.probed for loan in ledger.waiting_for_collection()] == [False]
        janitor.sweep()
    finally:
        gc.enable()
        janitor.unwatch(ledger)
    assert len(closed) == 1 and ledger.reclaimed == 1


def test_reclaim_at_the_deadline_collects_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "_last_collect", [0.0])  # none ran lately
    ledger, closed = make()
    gc.disable()
    try:
        ledger.lend(Conn(), Borrower())
        assert ledger.reclaim_dropped(collect=False) == 0  # the cycle is still there
        assert ledger.reclaim_dropped(collect=True) == 1
    finally:
        gc.enable()
    assert len(closed) == 1


def test_ids_cannot_be_reused_while_a_loan_lasts() -> None:
    # The ledger holds each lent connection: no new object can take its id().
    ledger, _ = make()
    conns = [Conn() for _ in range(100)]
    for conn in conns:
        ledger.lend(conn)
    ids = {id(c) for c in conns}
    del conns
    gc.collect()
    fresh = [Conn() for _ in range(100)]
    assert not ids & {id(c) for c in fresh}
    assert len(ledger) == 100


def test_usage_and_counts_are_exact_under_threads() -> None:
    ledger, _ = make()
    threads, cycles = 8, 2000

    def cycle() -> None:
        for _ in range(cycles):
            conn = Conn()
            ledger.lend(conn, now=0.0)
            ledger.end(conn, now=0.001)

    workers = [threading.Thread(target=cycle) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(ledger) == 0
    assert ledger.usage_s == pytest.approx(threads * cycles * 0.001)


def test_deferred_work_takes_no_lock_and_runs_later() -> None:
    done: list[int] = []
    lock = threading.Lock()
    with lock:  # as a finaliser under a pool's lock would
        defer(lambda: done.append(1))
        assert done == []
    run_deferred()
    assert done == [1]
