"""What one checkout + return costs, against the alternatives, in the same run.

    python bench/checkout.py [--rounds 7] [--iterations 20000] [--profile]

Prints, best of ``--rounds`` (rounds interleave the contenders so drift hits
them alike):

1. the adapter cycle ``pool.acquire(); pool.release(conn)`` of our backend's
   pool (built by the backend itself: ``connections[alias].pool``) against raw
   ``psycopg_pool.ConnectionPool.getconn(); putconn(conn)`` with the same
   sizes, timeout and lifetimes, in microseconds and as a ratio (target <= 1.2);
2. the Django cycle ``connection.ensure_connection(); connection.close()`` on
   our backend against Django's own pooled PostgreSQL backend, and a
   connection per cycle without a pool for scale;
3. server round trips per checkout, counted by libpq's own protocol trace of
   the pooled connection (not by anything django-multipool reports), with
   controls that must show 1 per cycle so a 0 cannot come from a blind trace.

Needs PostgreSQL: MULTIPOOL_POSTGRESQL_DSN (default
postgresql://postgres@127.0.0.1:5432/postgres). Uses the database
``multipool_bench``, created if missing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
import psycopg
import psycopg_pool
from django.conf import settings
from psycopg import pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from demo.env import DemoEnv

DATABASE = "multipool_bench"
# The pool's defaults that matter for a single-threaded cycle; the raw pool
# gets the same ones. Our default check=60 (validate after 60 s idle) has no
# psycopg_pool equivalent and costs no round trip, so raw runs with check=None.
SIZES = {"min_size": 1, "max_size": 10}
RAW_EXTRA = {"timeout": 30.0, "max_lifetime": 1800.0, "max_idle": 600.0}

Cycle = Callable[[], None]


def server_kwargs(database: str | None = None) -> dict[str, Any]:
    """psycopg.connect() arguments for ``database`` on MULTIPOOL_POSTGRESQL_DSN's server."""
    return dict(DemoEnv.from_environ().connect_kwargs(database))


def ensure_database() -> None:
    with psycopg.connect(**server_kwargs(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def database_entry(engine: str, pool: Any) -> dict[str, Any]:
    s = server_kwargs(DATABASE)
    options = {} if pool is None else {"pool": pool}
    return {
        "ENGINE": engine,
        "NAME": s["dbname"],
        "USER": s["user"],
        "PASSWORD": s["password"],
        "HOST": s["host"],
        "PORT": s["port"],
        "CONN_MAX_AGE": 0,
        "OPTIONS": options,
    }


def configure_django() -> None:
    ours = "django_multipool.backends.postgresql"
    django_pg = "django.db.backends.postgresql"
    settings.configure(
        DATABASES={
            "default": database_entry(ours, True),
            "ours": database_entry(ours, dict(SIZES)),
            "ours_no_check": database_entry(ours, {**SIZES, "check": False}),
            # One connection each, so tracing it sees every checkout.
            "ours_single": database_entry(ours, {"max_size": 1}),
            "ours_check_always": database_entry(ours, {"max_size": 1, "check": True}),
            "django_pool": database_entry(django_pg, dict(SIZES)),
            "django_pool_single": database_entry(django_pg, {"min_size": 1, "max_size": 1}),
            "django_no_pool": database_entry(django_pg, None),
        },
        INSTALLED_APPS=["django_multipool"],
        USE_TZ=True,
        TIME_ZONE="UTC",
    )
    django.setup()


def raw_pool() -> psycopg_pool.ConnectionPool[Any]:
    # What our adapter hands psycopg_pool: autocommit connections, no callbacks.
    pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
        kwargs={**server_kwargs(DATABASE), "autocommit": True},
        open=False,
        **SIZES,
        **RAW_EXTRA,
    )
    pool.open(wait=True)
    return pool


# -- timing ------------------------------------------------------------------------


def per_cycle_us(cycle: Cycle, iterations: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(iterations):
        cycle()
    return (time.perf_counter_ns() - started) / iterations / 1000


def best_of(contenders: dict[str, tuple[Cycle, int]], rounds: int) -> dict[str, float]:
    """Best µs per cycle of each contender; rounds interleave the contenders."""
    best = {name: float("inf") for name in contenders}
    for cycle, _ in contenders.values():  # warm up: open pools, fill caches
        for _ in range(200):
            cycle()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection in one round is noise, not cost
    try:
        for _ in range(rounds):
            for name, (cycle, iterations) in contenders.items():
                best[name] = min(best[name], per_cycle_us(cycle, iterations))
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def adapter_cycle(pool: Any) -> Cycle:
    acquire, release = pool.acquire, pool.release

    def cycle() -> None:
        release(acquire())

    return cycle


def raw_cycle(pool: psycopg_pool.ConnectionPool[Any]) -> Cycle:
    getconn, putconn = pool.getconn, pool.putconn

    def cycle() -> None:
        putconn(getconn())

    return cycle


def django_cycle(alias: str) -> Cycle:
    from django.db import connections

    connection = connections[alias]

    def cycle() -> None:
        connection.ensure_connection()
        connection.close()

    return cycle


# -- round trips -------------------------------------------------------------------


def traced_messages(conn: psycopg.Connection[Any], work: Cycle) -> list[str]:
    """libpq's trace of every protocol message ``conn`` exchanged during ``work``."""
    with tempfile.TemporaryFile() as log:
        # libpq fdopen()s the descriptor and never closes it: give it its own.
        fd = os.dup(log.fileno())
        conn.pgconn.trace(fd)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            work()
        finally:
            conn.pgconn.untrace()  # flushes libpq's buffer
        log.seek(0)
        return log.read().decode(errors="replace").splitlines()


def round_trips(lines: list[str]) -> int:
    # A round trip ends each frontend batch: a simple Query or an extended-
    # protocol Sync. Both directions are in the trace; count requests.
    return sum(
        1 for line in lines if line.startswith("F") and ("\tQuery\t" in line or "\tSync" in line)
    )


def count_round_trips(label: str, cycle: Callable[[], Any], cycles: int) -> tuple[str, float, int]:
    """Round trips per ``cycle``, which returns the connection it used.

    Each contender has a single-connection pool, so tracing the connection the
    first cycle returns sees every later checkout; we verify that it did.
    """
    conn = cycle()
    used: set[int] = set()

    def work() -> None:
        for _ in range(cycles):
            used.add(id(cycle()))

    lines = traced_messages(conn, work)
    if used != {id(conn)}:
        raise RuntimeError(f"{label}: cycles used {len(used)} connections; the trace saw one")
    return label, round_trips(lines) / cycles, len(lines)


def pool_cycle(pool: Any, sql: str | None = None) -> Callable[[], Any]:
    def cycle() -> Any:
        conn = pool.acquire()
        if sql:
            conn.execute(sql)
        pool.release(conn)
        return conn

    return cycle


def wrapper_cycle(alias: str) -> Callable[[], Any]:
    from django.db import connections

    wrapper = connections[alias]

    def cycle() -> Any:
        wrapper.ensure_connection()
        conn = wrapper.connection
        wrapper.close()
        return conn

    return cycle


def round_trip_report(cycles: int = 1000) -> list[tuple[str, float, int]]:
    from django.db import connections

    single = connections["ours_single"].pool
    always = connections["ours_check_always"].pool
    return [
        count_round_trips("ours: acquire + release (defaults)", pool_cycle(single), cycles),
        count_round_trips(
            "ours: ensure_connection + close (defaults)", wrapper_cycle("ours_single"), cycles
        ),
        count_round_trips(
            "Django's pool: ensure_connection + close",
            wrapper_cycle("django_pool_single"),
            cycles,
        ),
        count_round_trips(
            "control: acquire + SELECT 1 + release", pool_cycle(single, "SELECT 1"), cycles
        ),
        count_round_trips("control: acquire + release, check=True", pool_cycle(always), cycles),
    ]


# -- profile -------------------------------------------------------------------------


def profile(cycle: Cycle, iterations: int, label: str) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        cycle()
    profiler.disable()
    print(f"\nprofile of {label} ({iterations:,} cycles), by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=20_000, help="per adapter round")
    parser.add_argument("--profile", action="store_true", help="cProfile ours and raw")
    args = parser.parse_args()

    ensure_database()
    configure_django()
    from django.db import connections

    print(
        f"django {django.get_version()}, psycopg {psycopg.__version__}, "
        f"psycopg_pool {psycopg_pool.__version__}, libpq {pq.version()}; "
        f"best of {args.rounds} rounds"
    )

    raw = raw_pool()
    ours = connections["ours"].pool
    ours_no_check = connections["ours_no_check"].pool
    n = args.iterations
    adapter = best_of(
        {
            "raw psycopg_pool getconn + putconn": (raw_cycle(raw), n),
            "ours acquire + release (defaults: check=60)": (adapter_cycle(ours), n),
            "ours acquire + release (check=False)": (adapter_cycle(ours_no_check), n),
        },
        args.rounds,
    )
    raw_us = adapter["raw psycopg_pool getconn + putconn"]
    print(f"\n1. checkout + return, {n:,} cycles per round")
    for name, us in adapter.items():
        print(f"   {name:<46} {us:7.2f} µs   {us / raw_us:5.2f}x raw")

    m = max(1, n // 4)
    django_level = best_of(
        {
            "ours (django_multipool.backends.postgresql)": (django_cycle("ours"), m),
            "Django's pool (django.db.backends.postgresql)": (django_cycle("django_pool"), m),
        },
        args.rounds,
    )
    no_pool = best_of({"no pool": (django_cycle("django_no_pool"), 100)}, 3)["no pool"]
    builtin_us = django_level["Django's pool (django.db.backends.postgresql)"]
    print(f"\n2. connection.ensure_connection() + connection.close(), {m:,} cycles per round")
    for name, us in django_level.items():
        print(f"   {name:<46} {us:7.2f} µs   {us / builtin_us:5.2f}x Django's pool")
    print(f"   {'no pool: a new connection per cycle':<46} {no_pool:7.0f} µs")

    print("\n3. server round trips per cycle (libpq trace, 1,000 cycles)")
    for label, per_cycle, messages in round_trip_report():
        print(f"   {label:<46} {per_cycle:5.2f}   ({messages:,} protocol messages)")

    if args.profile:
        profile(adapter_cycle(ours), n, "ours acquire + release")
        profile(raw_cycle(raw), n, "raw getconn + putconn")
        profile(django_cycle("ours"), m, "ours ensure_connection + close")

    raw.close()
    for connection in connections.all():
        connection.close()
    from django_multipool.backends.registry import registry

    registry.close_all()


if __name__ == "__main__":
    main()
