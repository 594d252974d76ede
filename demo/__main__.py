"""``python -m demo``: serve the demo site under load and show what the pool did.

1. create and migrate the demo database (plain psycopg + ``manage.py migrate``);
2. start ``uvicorn demo.asgi:application --workers 1`` on a free loopback port;
3. drive ``/sync/`` and ``/async/`` with concurrent clients while a thread
   samples ``pg_stat_activity`` for the demo database;
4. wait until ``/stats/`` shows every pool at rest, print the table, stop
   the server. The exit status is 0 only if every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import httpx
import psycopg

from demo import database
from demo.env import DemoEnv
from demo.load import run_load
from demo.report import Run, render
from demo.server import UvicornServer, migrate

PATHS = ["/sync/", "/async/"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (200)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (10)")
    parser.add_argument(
        "--max-requests", type=int, default=50_000, help="stop after this many requests (50000)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 1000 or not 0 < args.duration <= 120:
        parser.error("keep it modest: 1-1000 clients for at most 120 s")
    return args


def wait_for_pools_at_rest(
    url: str, within: float = 10.0
) -> tuple[dict[str, dict[str, int]], float]:
    """Poll /stats/ until every pool has all its connections back.

    Django returns a request's connection in ``response.close()``, after the
    response was sent, so a client can see the last reply a moment before the
    pool does.
    """
    started = time.monotonic()
    while True:
        stats = httpx.get(f"{url}/stats/", timeout=5, trust_env=False).json()
        waited = time.monotonic() - started
        at_rest = all(s["pool_available"] == s["pool_size"] for s in stats.values())
        if at_rest or waited > within:
            return stats, waited
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = DemoEnv.from_environ()
    try:
        created = database.create_database(env)
    except psycopg.OperationalError as exc:
        print(
            f"cannot reach PostgreSQL at {env.dsn}: {exc}\n"
            "Start it (scripts/demo does) or set MULTIPOOL_POSTGRESQL_DSN.",
            file=sys.stderr,
        )
        return 2
    print(f"database {env.database!r} {'created' if created else 'exists'}; migrating")
    migrate()
    database.empty_hits(env)

    with UvicornServer() as server:
        print(
            f"uvicorn serving demo.asgi on {server.url} (1 worker); "
            f"{args.clients} clients for {args.duration:g} s on {', '.join(PATHS)}"
        )
        sampler = database.ConnectionSampler(env)
        sampler.start()
        try:
            load = asyncio.run(
                run_load(
                    server.url,
                    PATHS,
                    clients=args.clients,
                    duration=args.duration,
                    max_requests=args.max_requests,
                )
            )
            stats, settled = wait_for_pools_at_rest(server.url)
        finally:
            sampler.stop()
        with database.admin_connection(env) as conn:
            after = database.server_connections(conn, env.database)
        run = Run(
            load=load,
            max_size=env.max_size,
            samples=sampler.samples,
            sample_interval=sampler.interval,
            stats=stats,
            settle_seconds=settled,
            connections_after=after,
            rows_written=database.count_hits(env),
        )
        print(render(run))
        passed = all(ok for _, ok in run.checks())
        if not passed:
            print(f"\nlast lines of the server's log:\n{server.log_tail()}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
