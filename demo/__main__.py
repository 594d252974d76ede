"""``python -m demo``: four ways to connect Django to PostgreSQL, side by side, on one load.

1. pick the server (``demo/postgres.py``: the DSN, else a local server, else
   an embedded PostgreSQL 18 started for the run) and say which;
2. create the site's role and database, migrate;
3. for each configuration (``demo/configs.py``): uvicorn under concurrent
   clients on a sync view and an async view that awaits between queries;
   then gunicorn ``--preload`` with a query at import, whose workers inherit
   what the master opened (``demo/runs.py``);
4. print one table per scenario with a verdict per row, optionally a chart.

Every response must carry the nonce its request sent, read back from the
database: proof that it got its own query's result. The exit status is 0
only if every check on our rows holds; Django's own rows are shown, not judged.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg

from demo import database
from demo.chart import write_chart
from demo.configs import CONFIGS
from demo.database import SITE_CONNECTION_LIMIT
from demo.env import SITE_ROLE, UPSTREAM_SECONDS, DemoEnv
from demo.postgres import CHOICES, postgresql
from demo.report import checks, table
from demo.runs import ASGI_PATHS, Measured, run_asgi, run_fork
from demo.server import migrate

#: (clients, seconds measured, seconds of warm-up) of the ASGI scenario, and
#: (clients, seconds) of the fork scenario, by --quick.
FULL = {"clients": 200, "duration": 5.0, "warmup": 1.0, "fork_clients": 6, "fork_duration": 2.0}
QUICK = {"clients": 50, "duration": 2.0, "warmup": 0.5, "fork_clients": 4, "fork_duration": 1.5}
FORK_WORKERS = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="50 clients, 2 s per configuration (half the time)"
    )
    parser.add_argument("--clients", type=int, help="concurrent clients of the ASGI load (200)")
    parser.add_argument("--duration", type=float, help="seconds measured per configuration (5)")
    parser.add_argument(
        "--max-requests",
        type=int,
        default=100_000,
        help="stop a configuration's load after this many requests (100000)",
    )
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, of {', '.join(CONFIGS)} (all)",
    )
    parser.add_argument("--no-fork", action="store_true", help="skip the gunicorn --preload case")
    parser.add_argument(
        "--server",
        choices=CHOICES,
        default="auto",
        help="auto: MULTIPOOL_POSTGRESQL_DSN, else 127.0.0.1:5432, else embedded (auto)",
    )
    parser.add_argument("--chart", type=Path, metavar="PATH", help="also write an SVG chart")
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.clients is not None:
        plan["clients"] = args.clients
    if args.duration is not None:
        plan["duration"] = args.duration
    args.plan = plan
    if not 1 <= plan["clients"] <= 1000 or not 0 < plan["duration"] <= 120:
        parser.error("keep it modest: 1-1000 clients for at most 120 s")
    args.config_keys = [key.strip() for key in args.configs.split(",") if key.strip()]
    unknown = [key for key in args.config_keys if key not in CONFIGS]
    if unknown or not args.config_keys:
        parser.error(f"--configs: unknown {', '.join(unknown)}; expected {', '.join(CONFIGS)}")
    if args.chart is not None and args.chart.suffix != ".svg":
        parser.error(f"--chart {args.chart}: the chart is an SVG image; name it *.svg")
    return args


@contextmanager
def _progress(label: str) -> Iterator[None]:
    """``  running <label>... 9.6 s`` while a configuration runs, so a minute never looks stuck."""
    print(f"  running {label}...", end=" ", flush=True)
    started = time.monotonic()
    yield
    print(f"{time.monotonic() - started:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        with postgresql(args.server) as server:
            print(f"PostgreSQL: {server.description}", flush=True)
            env = replace(
                DemoEnv.from_environ(), dsn=server.dsn, site_password=secrets.token_hex(12)
            )
            return _run(args, env, started)
    except (LookupError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, env: DemoEnv, started: float) -> int:
    try:
        created = database.create_database(env)
    except psycopg.Error as exc:
        print(
            f"cannot set up the demo database on {env.connect_kwargs()['host']}:"
            f"{env.connect_kwargs()['port']}: {exc}\n"
            "The demo needs a user that may CREATE ROLE and CREATE DATABASE; set "
            "MULTIPOOL_POSTGRESQL_DSN to one, or run with --server embedded.",
            file=sys.stderr,
        )
        return 2
    migrate(**env.for_site("no-pool"))
    print(
        f"database {env.database!r} {'created' if created else 'exists'}, migrated; the site "
        f"connects as role {SITE_ROLE!r}, which may hold {SITE_CONNECTION_LIMIT} sessions "
        f"(a stand-in for max_connections); every pool: max_size {env.max_size}",
        flush=True,
    )
    plan = args.plan
    configs = [CONFIGS[key] for key in args.config_keys]

    print(
        f"\n1. ASGI: uvicorn, 1 worker; {plan['clients']} clients for {plan['duration']:g} s "
        f"(after {plan['warmup']:g} s warm-up) alternating {ASGI_PATHS[0]} (INSERT, SELECT) "
        f"and {ASGI_PATHS[1]} (INSERT, await {UPSTREAM_SECONDS:g} s, SELECT)",
        flush=True,
    )
    asgi: list[Measured] = []
    for config in configs:
        with _progress(config.label):
            asgi.append(
                run_asgi(
                    env,
                    config,
                    clients=plan["clients"],
                    duration=plan["duration"],
                    warmup=plan["warmup"],
                    max_requests=args.max_requests,
                )
            )
    print(table(asgi, env.max_size))

    fork: list[Measured] = []
    if not args.no_fork:
        print(
            f"\n2. fork: gunicorn --preload, {FORK_WORKERS} sync workers, a query at import "
            f"(demo/wsgi.py); {plan['fork_clients']} clients for {plan['fork_duration']:g} s "
            f"on {ASGI_PATHS[0]}",
            flush=True,
        )
        for config in configs:
            with _progress(config.label):
                fork.append(
                    run_fork(
                        env,
                        config,
                        clients=plan["fork_clients"],
                        duration=plan["fork_duration"],
                        workers=FORK_WORKERS,
                    )
                )
        print(table(fork, env.max_size))

    print(
        "\nreq/s counts correct answers only (a 2xx carrying its request's nonce); failed = "
        "error statuses plus requests with no answer; wrong = a 2xx with another nonce; "
        "peak sessions = most server sessions on the demo database, sampled every 50 ms."
    )
    found = checks(asgi + fork, env.max_size, {"asgi": 1, "fork": FORK_WORKERS + 1})
    print()
    for description, passed in found:
        print(f"[{'ok' if passed else 'FAILED'}] {description}")
    if args.chart is not None:
        write_chart(
            args.chart,
            asgi,
            fork,
            f"django-multipool demo: {plan['clients']} clients, pools of {env.max_size}",
        )
        print(f"\nchart: {args.chart}")
    print(f"\ndone in {time.monotonic() - started:.0f} s")
    return 0 if all(passed for _, passed in found) else 1


if __name__ == "__main__":
    sys.exit(main())
