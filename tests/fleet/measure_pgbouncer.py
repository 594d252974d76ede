"""What an in-process pool saves in front of PgBouncer, measured in one run.

    MULTIPOOL_POSTGRESQL_DSN=postgresql://postgres@127.0.0.1:5432/postgres \\
        python -m tests.fleet.measure_pgbouncer [--threads 8] [--requests 400]

Starts a PgBouncer of its own (transaction mode, tests/pgbouncer.py) in
front of the server and runs the same "request" (take a connection, three
short queries, give it back the way Django does at request end) from
``--threads`` threads through Django, in turn for each configuration:

- ``django, per request``: Django's own backend, ``CONN_MAX_AGE = 0``: a new
  client connection to PgBouncer for every request, as Django's docs suggest
  behind a pooler;
- ``ours, release=request`` / ``ours, release=transaction``: our ENGINE with
  ``behind = "pgbouncer-transaction"``, its pool in front of PgBouncer;
- ``django, direct, per request``: Django's own backend straight to PostgreSQL,
  for scale: what PgBouncer itself saves.

It prints requests per second and the latency percentiles of each, and the
ratios against the first; docs/scaling.md quotes a run. A measurement, not a
test: it asserts nothing, and its figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
DATABASE = "multipool_measure"


def configure(bouncer: Any, direct: Any) -> dict[str, dict[str, Any]]:
    def entry(server: Any, engine: str, **pool: Any) -> dict[str, Any]:
        settings = server.settings(name=DATABASE, ENGINE=engine, DISABLE_SERVER_SIDE_CURSORS=True)
        settings["OPTIONS"] = {"pool": pool} if pool else {}
        return settings

    ours = "django_multipool.backends.postgresql"
    djangos = "django.db.backends.postgresql"
    pool = {"behind": "pgbouncer-transaction", "max_size": 8, "min_size": 8, "timeout": 30}
    return {
        "django, per request": entry(bouncer, djangos),
        "ours, release=request": entry(bouncer, ours, **pool, release="request"),
        "ours, release=transaction": entry(bouncer, ours, **pool, release="transaction"),
        "django, direct, per request": entry(direct, djangos),
    }


def one_request(alias: str) -> None:
    from django.db import connections

    connection = connections[alias]
    with connection.cursor() as cursor:
        for n in range(3):
            cursor.execute("SELECT %s::int", [n])
            cursor.fetchone()
    # What request_finished does with CONN_MAX_AGE = 0 (and with our pool).
    connection.close_if_unusable_or_obsolete()


def measure(alias: str, threads: int, requests: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def work() -> None:
        mine = []
        one_request(alias)  # warm: the pool opens, Django loads its backend
        start.wait()
        for _ in range(requests):
            began = time.perf_counter()
            one_request(alias)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400, help="per thread")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    import django
    from django.conf import settings

    from tests import pgbouncer
    from tests.probes import probe_class
    from tests.servers import find_server

    direct, why = find_server("postgresql")
    if direct is None:
        print(why)
        return 1
    probe_class("postgresql")(direct).ensure_database(DATABASE)
    bouncer = pgbouncer.PgBouncer(direct, "transaction").start()
    try:
        databases = configure(bouncer.server, direct)
        settings.configure(
            DATABASES={"default": next(iter(databases.values())), **databases},
            INSTALLED_APPS=["django_multipool"],
            USE_TZ=True,
        )
        django.setup()
        print(
            f"PgBouncer {'.'.join(map(str, pgbouncer.version()))} (transaction mode, "
            f"pool {pgbouncer.POOL_SIZE}); {args.threads} threads x {args.requests} requests "
            f"of 3 queries each"
        )
        results = {}
        for alias in databases:
            seconds, latencies = measure(alias, args.threads, args.requests)
            results[alias] = len(latencies) / seconds
            quantiles = statistics.quantiles(latencies, n=100)
            print(
                f"{alias:30} {results[alias]:8.0f} req/s   p50 {quantiles[49] * 1e3:6.2f} ms"
                f"   p99 {quantiles[98] * 1e3:6.2f} ms"
            )
        base = results["django, per request"]
        for alias, rate in results.items():
            print(f"{alias:30} {rate / base:5.2f}x django per request through PgBouncer")
    finally:
        from django.db import connections

        connections.close_all()
        from django_multipool.backends.registry import registry

        for alias in list(dict(registry.items())):
            registry.close(alias)
        bouncer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
