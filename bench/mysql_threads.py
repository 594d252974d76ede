"""60 threads on a pool of 40: the server never sees more than 40 connections.

    python bench/mysql_threads.py [--threads 60] [--max-size 40] [--seconds 10]

Each thread runs Django's request cycle on our MySQL backend in a loop: a
query (``SELECT SLEEP(0.002)``, so checkouts overlap) on its own thread-local
connection, then ``connection.close()``, which returns the connection to the
pool. A separate plain connection samples the server's processlist for the
benchmark database every 10 ms. Prints the peak the server saw, the errors
(expected: none), the checkouts done and the pool's stats.

Needs MariaDB/MySQL: MULTIPOOL_MYSQL_DSN (default
mysql://root@127.0.0.1:3306/mysql). Uses the database ``multipool_bench``.
The run is bounded by ``--seconds``; it stops by itself.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

# Run as a script, bench/ is on sys.path: the checkout bench's setup serves both.
from mysql_checkout import DATABASE, server_settings


def plain_connection() -> Any:
    import mysql.connector

    s = server_settings()
    return mysql.connector.connect(
        host=s["HOST"],
        port=s["PORT"],
        user=s["USER"],
        password=s["PASSWORD"],
        use_pure=True,
        autocommit=True,
    )


def server_connections(probe: Any) -> int:
    probe.cmd_query(f"SELECT count(*) FROM information_schema.processlist WHERE db = '{DATABASE}'")
    return int(probe.get_rows()[0][0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=60)
    parser.add_argument("--max-size", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    admin = plain_connection()
    admin.cmd_query(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django_multipool.backends.mysql",
                "NAME": DATABASE,
                "CONN_MAX_AGE": 0,
                "OPTIONS": {"pool": {"min_size": 0, "max_size": args.max_size, "timeout": 30}},
                **server_settings(),
            }
        },
        INSTALLED_APPS=["django_multipool"],
        USE_TZ=True,
    )
    django.setup()
    from django.db import connection

    errors: list[BaseException] = []
    checkouts = [0] * args.threads
    stop = threading.Event()
    start = threading.Barrier(args.threads + 1)

    def worker(index: int) -> None:
        start.wait()
        try:
            while not stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT SLEEP(0.002)")
                    cursor.fetchall()
                connection.close()
                checkouts[index] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    peak = 0
    samples = 0
    start.wait()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        peak = max(peak, server_connections(admin))
        samples += 1
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(60)
    peak = max(peak, server_connections(admin))
    stats = connection.pool.stats() if connection.pool else None
    admin.close()

    print(f"{args.threads} threads, max_size={args.max_size}, {args.seconds:.0f} s")
    print(f"  peak server connections   {peak}   ({samples} samples)")
    print(f"  errors                    {len(errors)}")
    for exc in errors[:5]:
        print(f"    {type(exc).__name__}: {exc}")
    print(
        f"  checkouts                 {sum(checkouts)}"
        f"   (every thread served: {min(checkouts) > 0})"
    )
    if stats is not None:
        print(
            f"  pool                      size={stats.pool_size} "
            f"opened={stats.connections_num} queued={stats.requests_queued} "
            f"wait_ms={stats.requests_wait_ms} lost={stats.connections_lost}"
        )
    sys.exit(1 if errors or peak > args.max_size else 0)


if __name__ == "__main__":
    main()
