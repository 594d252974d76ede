"""The measured outcomes of issue 2, through Django's own connection handling.

    python bench/foundation.py [--threads 50] [--checkouts 40]

1. ``--threads`` threads hammer one alias (max_size=5): each takes Django's
   thread-local connection, runs ``SELECT 1`` and closes it, ``--checkouts``
   times; a separate connection samples ``pg_stat_activity`` for the bench
   database meanwhile. Prints the peak server sessions and the error count.
2. max_size=1, timeout=0.5: one thread holds the only connection, a second
   asks for one. Prints how long the second waited for its PoolTimeout.
3. ``os.fork()`` with a connection open: parent and child each ask the server
   for ``pg_backend_pid()``. Prints both, and the parent's again after the
   child exited (its session must have survived the child).

Needs PostgreSQL: MULTIPOOL_POSTGRESQL_DSN (default
postgresql://postgres@127.0.0.1:5432/postgres). Uses the database
``multipool_bench``, created if missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import django
import psycopg
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from demo.env import DemoEnv

DATABASE = "multipool_bench"
ENGINE = "django_multipool.backends.postgresql"


def server_kwargs(database: str | None = None) -> dict[str, Any]:
    """psycopg.connect() arguments for ``database`` on MULTIPOOL_POSTGRESQL_DSN's server."""
    return dict(DemoEnv.from_environ().connect_kwargs(database))


def admin() -> psycopg.Connection[Any]:
    """A plain connection to the DSN's database: never counted, never pooled."""
    return psycopg.connect(**server_kwargs(), autocommit=True)


def configure_django() -> None:
    s = server_kwargs(DATABASE)

    def entry(**pool: Any) -> dict[str, Any]:
        return {
            "ENGINE": ENGINE,
            "NAME": s["dbname"],
            "USER": s["user"],
            "PASSWORD": s["password"],
            "HOST": s["host"],
            "PORT": s["port"],
            "CONN_MAX_AGE": 0,
            "OPTIONS": {"pool": pool},
        }

    settings.configure(
        DATABASES={
            "default": entry(min_size=0, max_size=5, timeout=30),
            "tiny": entry(min_size=0, max_size=1, timeout=0.5),
            "forked": entry(min_size=1, max_size=2),
        },
        INSTALLED_APPS=["django_multipool"],
        USE_TZ=True,
        TIME_ZONE="UTC",
    )
    django.setup()


def ensure_database() -> None:
    with admin() as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def sessions(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [DATABASE],
    ).fetchone()
    return int(row[0]) if row else 0


def backend_pid(alias: str) -> int:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


# -- 1. many threads, one alias ------------------------------------------------------


def hammer(threads: int, checkouts: int) -> None:
    from django.db import connections

    errors: list[BaseException] = []
    samples: list[int] = []
    stop = threading.Event()

    def work() -> None:
        # Each thread gets its own DatabaseWrapper for "default", as request
        # threads do; they all share the process's one pool.
        connection = connections["default"]
        try:
            for _ in range(checkouts):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                connection.close()  # what request_finished does
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sample() -> None:
        with admin() as conn:
            while not stop.is_set():
                samples.append(sessions(conn))
                stop.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()

    stats = connections["default"].pool.stats()
    total = threads * checkouts
    print(f"\n1. {threads} threads x {checkouts} checkouts on one alias, max_size=5")
    print(f"   checkouts                      {total:,} in {elapsed:.2f} s")
    print(f"   errors                         {len(errors)}")
    for exc in errors[:3]:
        print(f"     {type(exc).__name__}: {exc}")
    print(f"   peak pg_stat_activity sessions {max(samples, default=0)}  ({len(samples)} samples)")
    print(
        f"   pool: size {stats.pool_size}, available {stats.pool_available}, "
        f"requests {stats.requests_num:,}, queued {stats.requests_queued:,}, "
        f"wait {stats.requests_wait_ms:,} ms, errors {stats.requests_errors}"
    )


# -- 2. PoolTimeout wait ------------------------------------------------------------


def timeout_wait(tries: int = 3) -> None:
    from django.db import connections

    from django_multipool import PoolTimeout

    def hold(holding: threading.Event, done: threading.Event) -> None:
        connection = connections["tiny"]
        connection.ensure_connection()
        holding.set()
        done.wait(10)
        connection.close()

    print("\n2. max_size=1, timeout=0.5: the second borrower's wait")
    for attempt in range(1, tries + 1):
        holding, done = threading.Event(), threading.Event()
        holder = threading.Thread(target=hold, args=(holding, done))
        holder.start()
        holding.wait(10)
        started = time.monotonic()
        try:
            connections["tiny"].ensure_connection()
            outcome = "got a connection (unexpected)"
            connections["tiny"].close()
        except PoolTimeout as exc:
            outcome = f"PoolTimeout: {exc}"
        waited = time.monotonic() - started
        done.set()
        holder.join()
        print(f"   try {attempt}: waited {waited:.3f} s -> {outcome}")


# -- 3. fork -----------------------------------------------------------------------------


def fork_pids() -> None:
    from django.db import connections

    parent_before = backend_pid("forked")  # the connection stays checked out
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12 warns because psycopg_pool's worker threads exist here.
        # That is the case under test: the child must not use them, or any
        # socket of the parent, and builds its own pool.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.write(write, str(backend_pid("forked")).encode())
            connections["forked"].close()
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child = os.read(read, 64).decode() or "(none)"
    os.close(read)
    parent_after = backend_pid("forked")
    connections["forked"].close()
    print("\n3. os.fork() while holding a connection: pg_backend_pid()")
    print(f"   parent before fork   {parent_before}")
    print(f"   child                {child}  (exit status {os.waitstatus_to_exitcode(status)})")
    print(f"   parent after child   {parent_after}")
    print(
        f"   differ: {child != str(parent_before)}; parent kept its session: "
        f"{parent_after == parent_before}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--checkouts", type=int, default=100, help="per thread")
    args = parser.parse_args()
    ensure_database()
    configure_django()
    print(f"django {django.get_version()}, psycopg {psycopg.__version__}, ENGINE {ENGINE}")
    hammer(args.threads, args.checkouts)
    timeout_wait()
    fork_pids()

    from django_multipool.backends.registry import registry

    registry.close_all()


if __name__ == "__main__":
    main()
