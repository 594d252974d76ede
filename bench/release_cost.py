"""What release="transaction" costs against release="request", in the same run.

    python bench/release_cost.py [--rounds 7] [--requests 300] [--cycles 20000]

For each vendor with a server (MULTIPOOL_POSTGRESQL_DSN, default
postgresql://postgres@127.0.0.1:5432/postgres; MULTIPOOL_MYSQL_DSN, default
mysql://root@127.0.0.1:3306/mysql; a vendor whose server does not answer is
skipped), two aliases on the same database differ only in
``OPTIONS["pool"]["release"]``. Prints, best of ``--rounds`` interleaved rounds:

1. a sync "view" running 20 trivial queries (``SELECT 1`` through Django's
   cursor, the harshest case: the least work per statement to hide a
   checkout behind), followed by ``close_old_connections()`` as at the end of
   a request: the median µs per request over ``rounds x requests`` requests,
   the two modes alternating request by request, and the ratio transaction /
   request (issue 4's target: <= 1.10);
2. the per-statement cost of giving the connection back and leasing it again:
   ``with connection.cursor(): pass`` (no SQL) in both modes; the difference
   is what transaction mode adds to each statement, in µs.

Prints only; asserts nothing. Uses the database ``multipool_bench``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import django
from django.conf import settings

DATABASE = "multipool_bench"
DSNS = {
    "postgresql": os.environ.get("MULTIPOOL_POSTGRESQL_DSN")
    or "postgresql://postgres@127.0.0.1:5432/postgres",
    "mysql": os.environ.get("MULTIPOOL_MYSQL_DSN") or "mysql://root@127.0.0.1:3306/mysql",
}
QUERIES_PER_VIEW = 20
POOL = {"min_size": 1, "max_size": 4}


def entry(vendor: str, release: str, max_size: int = POOL["max_size"]) -> dict[str, Any]:
    parts = urlsplit(DSNS[vendor])
    return {
        "ENGINE": f"django_multipool.backends.{vendor}",
        "NAME": DATABASE,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": parts.port or "",
        "OPTIONS": {"pool": dict(POOL, max_size=max_size, release=release)},
    }


def ensure_database(vendor: str) -> bool:
    parts = urlsplit(DSNS[vendor])
    try:
        if vendor == "postgresql":
            import psycopg

            with psycopg.connect(DSNS[vendor], autocommit=True, connect_timeout=3) as conn:
                found = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
                ).fetchone()
                if not found:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
        else:
            import mysql.connector

            conn = mysql.connector.connect(
                host=parts.hostname,
                port=parts.port or 3306,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                connection_timeout=3,
            )
            conn.cmd_query(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
            conn.close()
    except Exception as exc:  # a bench: say why and go on
        print(f"{vendor}: skipped ({type(exc).__name__}: {exc})")
        return False
    return True


def best_of(rounds: int, contenders: dict[str, Callable[[], float]]) -> dict[str, float]:
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():  # interleaved: drift hits all alike
            best[name] = min(best[name], run())
    return best


def alternating_medians(n: int, contenders: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Median µs per call, the contenders alternating call by call.

    On a shared machine a burst of load lasts longer than one request: it then
    hits both contenders alike, and the median ignores it.
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    gc.collect()
    gc.disable()
    try:
        for _ in range(n):
            for name, call in contenders.items():
                started = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - started) * 1e6)
    finally:
        gc.enable()
    return {name: statistics.median(times) for name, times in samples.items()}


def timed(n: int, cycle: Callable[[], None]) -> Callable[[], float]:
    def run() -> float:
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            for _ in range(n):
                cycle()
            return (time.perf_counter() - started) / n * 1e6
        finally:
            gc.enable()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=20000)
    parser.add_argument(
        "--max-size",
        type=int,
        default=POOL["max_size"],
        help="1 keeps every statement on one server session (see the docs on FIFO pools)",
    )
    args = parser.parse_args()

    vendors = [v for v in DSNS if ensure_database(v)]
    databases = {
        f"{vendor}_{release}": entry(vendor, release, args.max_size)
        for vendor in vendors
        for release in ("request", "transaction")
    }
    databases["default"] = {}  # Django insists on one; never used
    settings.configure(DATABASES=databases, USE_TZ=True, INSTALLED_APPS=["django_multipool"])
    django.setup()
    from django.db import close_old_connections, connections

    for vendor in vendors:

        def view(alias: str) -> Callable[[], None]:
            connection = connections[alias]

            def request() -> None:
                for _ in range(QUERIES_PER_VIEW):
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT 1")
                        cursor.fetchone()
                close_old_connections()

            return request

        def empty_cursor(alias: str) -> Callable[[], None]:
            connection = connections[alias]
            connection.ensure_connection()

            def statement() -> None:
                with connection.cursor():
                    pass

            return statement

        by_request, by_transaction = f"{vendor}_request", f"{vendor}_transaction"
        for alias in (by_request, by_transaction):  # warm the pools and Django's caches
            for _ in range(3):
                view(alias)()
        views = alternating_medians(
            args.rounds * args.requests,
            {"request": view(by_request), "transaction": view(by_transaction)},
        )
        cursors = best_of(
            args.rounds,
            {
                "request": timed(args.cycles, empty_cursor(by_request)),
                "transaction": timed(args.cycles, empty_cursor(by_transaction)),
            },
        )
        sessions = {mode: connections[f"{vendor}_{mode}"].pool.stats().pool_size for mode in views}
        close_old_connections()
        ratio = views["transaction"] / views["request"]
        print(f"\n{vendor}: a sync view running {QUERIES_PER_VIEW} x SELECT 1, then request end")
        print(f"  release='request'      {views['request']:9.1f} µs/request (median)")
        print(f"  release='transaction'  {views['transaction']:9.1f} µs/request (median)")
        print(f"  ratio transaction/request: {ratio:.3f} (target <= 1.10)")
        print(f"  pool sizes at the end: {sessions}")
        extra = cursors["transaction"] - cursors["request"]
        print(f"{vendor}: per statement, an empty `with connection.cursor(): pass`")
        print(f"  release='request'      {cursors['request']:7.2f} µs")
        print(f"  release='transaction'  {cursors['transaction']:7.2f} µs (release + re-lease)")
        print(f"  re-lease cost per statement: {extra:.2f} µs")
        for alias in (by_request, by_transaction):
            connections[alias].close()


if __name__ == "__main__":
    main()
