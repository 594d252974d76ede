"""Guarantee 4: more concurrent borrowers than ``max_size``.

Every borrower either gets a connection within ``timeout`` or a
``PoolTimeout`` after it; ``max_waiting`` refuses the excess at once with
``TooManyRequests``; nothing is lost: every write acknowledged to its caller
is in the database, nothing else is, and no connection is ever lent to two
borrowers at once. On the pool and through the ORM, in both release modes.
"""

from __future__ import annotations

import gc
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import OperationalError, connections, models, transaction

from django_multipool import PoolTimeout, TooManyRequests

from ..probes import Probe
from ..servers import Server
from .load import django_alias, run, settings_for, wait_until

pytestmark = pytest.mark.vendor

MAX_SIZE = 3
BORROWERS = 12
ROUNDS = 4
#: How long a borrower keeps its connection: long enough that 12 borrowers
#: on 3 connections wait longer than TIMEOUT (15 checkouts a second are served,
#: 12 borrowers ask for one every ~0.2 s).
HOLD = 0.2
TIMEOUT = 0.5
#: Scheduling noise on a busy 2-core machine; a hang would be far longer.
SLACK = 1.0

_aliases = itertools.count()


class Ledger(models.Model):
    name = models.CharField(max_length=40, unique=True)

    class Meta:
        app_label = "django_multipool"
        db_table = "multipool_reliability_ledger"


@pytest.fixture
def ledger(server: Server) -> Iterator[None]:
    """The Ledger table, empty, on the test database."""
    schema(server, create=True)
    yield
    schema(server, create=False)


def schema(server: Server, *, create: bool) -> None:
    # Through an alias of its own whose pool is closed at the end of the
    # block: the tests count the server's sessions.
    with django_alias(settings_for(server), f"ledger{next(_aliases)}", min_size=0) as alias:
        wrapper = connections[alias]
        exists = Ledger._meta.db_table in wrapper.introspection.table_names()
        with wrapper.schema_editor() as editor:
            if exists:
                editor.delete_model(Ledger)
            if create:
                editor.create_model(Ledger)


def stored_names(probe: Probe) -> set[str]:
    return {
        row[0] for row in probe.execute_in_test_db(f"SELECT name FROM {Ledger._meta.db_table}")
    }


def insert_sql(vendor: str) -> str:
    placeholder = ":1" if vendor == "oracle" else "%s"
    return f"INSERT INTO {Ledger._meta.db_table} (name) VALUES ({placeholder})"


@dataclass(frozen=True)
class Attempt:
    name: str
    waited: float
    error: BaseException | None


class PeakConnections:
    """Samples the server's count of sessions on the test database while it runs."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.probe.count_connections())
            time.sleep(0.02)


def storm(borrow: Callable[[str], float | None]) -> list[Attempt]:
    """BORROWERS threads, ROUNDS borrows each, all started at once.

    ``borrow`` returns how long it waited for its connection, or None to
    count the whole call.
    """
    attempts: list[Attempt] = []
    lock = threading.Lock()
    start = threading.Barrier(BORROWERS)

    def borrower(n: int) -> None:
        start.wait()
        for r in range(ROUNDS):
            name = f"b{n}-r{r}"
            began = time.monotonic()
            error: BaseException | None = None
            waited = None
            try:
                waited = borrow(name)
            except Exception as exc:
                error = exc
            if waited is None:
                waited = time.monotonic() - began
            with lock:
                attempts.append(Attempt(name, waited, error))
            time.sleep(random.uniform(0, 0.02))

    threads = [threading.Thread(target=borrower, args=(n,), daemon=True) for n in range(BORROWERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(ROUNDS * (TIMEOUT + HOLD + SLACK) + 10)
    assert not any(t.is_alive() for t in threads), "a borrower never came back"
    assert len(attempts) == BORROWERS * ROUNDS
    return attempts


def collection_time() -> float:
    """How long one full garbage collection takes in this process now."""
    began = time.monotonic()
    gc.collect()
    return time.monotonic() - began


def judge(attempts: list[Attempt], label: str, *, held: float = 0.0) -> set[str]:
    """Every attempt got through in time or timed out after TIMEOUT; return the acknowledged.

    ``held``: how much of a served attempt's time is not waiting (ORM
    requests are timed whole: the checkout is inside the first query).
    """
    # A checkout about to time out runs one full collection first (to reclaim
    # a dropped borrower's slot), holding the GIL: in a process as large as
    # the whole test session that costs more than the noise SLACK allows for.
    slack = SLACK + collection_time()
    served = [a for a in attempts if a.error is None]
    timed_out = [a for a in attempts if isinstance(a.error, PoolTimeout)]
    others = [a.error for a in attempts if a.error is not None and a not in timed_out]
    assert not others, others
    # Both outcomes happened: the pool really was exhausted, and still served.
    assert served and timed_out, (len(served), len(timed_out))
    for a in timed_out:
        assert isinstance(a.error, OperationalError)
        assert TIMEOUT - 0.05 <= a.waited <= TIMEOUT + slack, a
    for a in served:
        assert a.waited <= TIMEOUT + held + slack, a
    print(
        f"\n{label}: {len(served)} served, {len(timed_out)} PoolTimeout; longest served wait "
        f"{max(a.waited for a in served) - held:.2f} s, timeouts after "
        f"{min(a.waited for a in timed_out):.2f}-{max(a.waited for a in timed_out):.2f} s"
    )
    return {a.name for a in served}


def test_pool_borrowers_get_a_connection_in_time_or_a_pool_timeout(
    vendor: str, server: Server, probe: Probe, pool_on: Any, ledger: None
) -> None:
    pool = pool_on(server, min_size=0, max_size=MAX_SIZE, timeout=TIMEOUT, check=False)
    sql = insert_sql(vendor)
    lent: set[int] = set()
    lent_lock = threading.Lock()

    def borrow(name: str) -> float:
        began = time.monotonic()
        conn = pool.acquire()
        waited = time.monotonic() - began
        with lent_lock:
            assert id(conn) not in lent, "one connection lent to two borrowers"
            lent.add(id(conn))
        try:
            run(conn, sql, (name,))
            conn.commit()
            time.sleep(HOLD)
        finally:
            with lent_lock:
                lent.discard(id(conn))
            pool.release(conn)
        return waited

    with PeakConnections(probe) as peak:
        attempts = storm(borrow)
    acknowledged = judge(attempts, f"{vendor} pool")

    assert stored_names(probe) == acknowledged
    assert peak.peak <= MAX_SIZE
    stats = pool.stats()
    assert pool.checked_out == 0
    assert stats.pool_size <= MAX_SIZE
    assert stats.requests_errors >= len(attempts) - len(acknowledged)


def test_pool_max_waiting_refuses_the_excess_at_once(
    vendor: str, server: Server, probe: Probe, pool_on: Any, ledger: None
) -> None:
    max_waiting, callers, timeout = 3, 8, 10.0
    pool = pool_on(server, min_size=0, max_size=2, timeout=timeout, max_waiting=max_waiting)
    held = [pool.acquire(), pool.acquire()]
    sql = insert_sql(vendor)
    attempts: list[Attempt] = []
    lock = threading.Lock()
    start = threading.Barrier(callers)

    def caller(n: int) -> None:
        start.wait()
        began = time.monotonic()
        error: BaseException | None = None
        try:
            conn = pool.acquire()
            try:
                run(conn, sql, (f"w{n}",))
                conn.commit()
            finally:
                pool.release(conn)
        except Exception as exc:
            error = exc
        with lock:
            attempts.append(Attempt(f"w{n}", time.monotonic() - began, error))

    threads = [threading.Thread(target=caller, args=(n,), daemon=True) for n in range(callers)]
    for thread in threads:
        thread.start()
    refused = callers - max_waiting
    assert wait_until(lambda: len(attempts) == refused and pool.stats().requests_waiting == 3)
    for conn in held:
        pool.release(conn)
    for thread in threads:
        thread.join(timeout + SLACK)
    assert not any(t.is_alive() for t in threads)

    rejected = [a for a in attempts if a.error is not None]
    assert len(rejected) == refused
    for a in rejected:
        assert isinstance(a.error, TooManyRequests), a
        assert isinstance(a.error, OperationalError)
        assert a.waited < timeout / 4, a  # refused, not made to wait
    assert stored_names(probe) == {a.name for a in attempts if a.error is None}
    print(
        f"\n{vendor} max_waiting: {len(rejected)} TooManyRequests after at most "
        f"{max(a.waited for a in rejected) * 1000:.0f} ms"
    )


@pytest.mark.parametrize("release", ["request", "transaction"])
def test_orm_writers_commit_in_time_or_get_a_pool_timeout_and_lose_nothing(
    vendor: str, server: Server, probe: Probe, ledger: None, release: str
) -> None:
    alias = f"exhaust{next(_aliases)}"
    options = {"min_size": 0, "max_size": MAX_SIZE, "timeout": TIMEOUT, "release": release}
    with django_alias(settings_for(server), alias, **options):

        def request(name: str) -> None:
            try:
                with transaction.atomic(using=alias):
                    Ledger.objects.using(alias).create(name=name)
                    time.sleep(HOLD)  # the rest of the request's work in the transaction
            finally:
                connections[alias].close_if_unusable_or_obsolete()  # request_finished

        with PeakConnections(probe) as peak:
            attempts = storm(request)
        acknowledged = judge(attempts, f"{vendor} ORM release={release}", held=HOLD)
        assert stored_names(probe) == acknowledged
        assert peak.peak <= MAX_SIZE
        assert connections[alias].pool.checked_out == 0


def test_orm_max_waiting_refuses_at_once(
    vendor: str, server: Server, probe: Probe, ledger: None
) -> None:
    alias = f"exhaust{next(_aliases)}"
    options = {"min_size": 0, "max_size": 1, "timeout": 10, "max_waiting": 1}
    with django_alias(settings_for(server), alias, **options):
        outcomes: list[Attempt] = []
        lock = threading.Lock()

        def request(name: str) -> None:
            began = time.monotonic()
            error: BaseException | None = None
            try:
                Ledger.objects.using(alias).create(name=name)
            except Exception as exc:
                error = exc
            finally:
                connections[alias].close()
            with lock:
                outcomes.append(Attempt(name, time.monotonic() - began, error))

        with transaction.atomic(using=alias):  # this thread holds the only connection
            Ledger.objects.using(alias).create(name="holder")
            threads = [
                threading.Thread(target=request, args=(f"r{n}",), daemon=True) for n in range(4)
            ]
            for thread in threads:
                thread.start()
            assert wait_until(lambda: len(outcomes) == 3)
        connections[alias].close()
        for thread in threads:
            thread.join(15)

        rejected = [o for o in outcomes if o.error is not None]
        assert len(rejected) == 3
        assert all(isinstance(o.error, TooManyRequests) for o in rejected), rejected
        assert all(o.waited < 2.5 for o in rejected), rejected
        assert stored_names(probe) == {"holder"} | {o.name for o in outcomes if o.error is None}
        assert len(stored_names(probe)) == 2
