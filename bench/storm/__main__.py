"""Connection storm (issue 4): every way of pooling Django's connections, side by side.

    python -m bench.storm [--vendor postgresql,mysql] [--views a,b] [--configs ...]
                          [--clients 200] [--view-clients a=50,d=500] [--duration 8]
                          [--warmup 2] [--rounds 1] [--quick]
    python -m bench.storm --soak 600 [--vendor ...] [--configs ours-transaction]

For each vendor, configuration and view: a fresh ``uvicorn --workers 1`` on
127.0.0.1 serving ``storm_site``; ``--clients`` concurrent clients (or a
view's own number from ``--view-clients``) for a
warm-up, then ``--duration`` seconds of measured load while a thread samples
the server's sessions on the storm database. Prints a table (each rate also as
a fraction of the ``ceiling`` configuration's, the same views without a query)
and the target ratios of issues 4 and 18
and writes bench/results/storm-<vendor>.json. With ``--rounds N`` every
configuration and view runs N times, the rounds interleaved (round 1 of
each, then round 2 ..., each round's order rotated by one), so that a slow
minute of a shared machine lands on all of them: each row is its median
run, with the spread of its rates, and each ratio is taken per round and
reported as the median and its range. ``--soak``
instead runs one configuration for that many seconds and judges whether
sessions and memory stay flat (bench/storm/soak.py).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any

from bench import _bootstrap as bench
from demo.load import run_load
from tests.servers import Server

from . import db, report, soak
from .server import STACKS, StormServer, drf_missing, stack_missing

VIEWS = {"a": "/a/", "b": "/b/", "c": "/c/", "d": "/d/"}
#: The load generator's bound, and the storm login's: the site's server
#: sessions are capped at db.CONNECTION_LIMIT whatever the clients.
MAX_CLIENTS = 500


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    keys = list(db.BY_KEY)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench.add_common_arguments(parser)
    parser.add_argument(
        "--views",
        default="a,b",
        help="a (sync, 1 query), b (async, 0.2 s), c (sync, 20 queries), "
        "d (sync, a Django REST framework list page); c and d not by default",
    )
    parser.add_argument("--configs", default=None, help=f"{','.join(keys)} (default: all)")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds (8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (200)")
    parser.add_argument(
        "--view-clients",
        default="",
        help="a view's own number of clients instead, e.g. a=50,d=500 (issue 16's sync view "
        "has 50, issue 18's DRF view 500)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of each configuration and view, interleaved; rows show the median (1)",
    )
    parser.add_argument(
        "--max-requests", type=int, default=100_000, help="per run, at most (100000)"
    )
    parser.add_argument(
        "--stack",
        choices=sorted(STACKS),
        default="standard",
        help="uvicorn's loop and HTTP parser: standard (uvloop, httptools; default) "
        "or pure (asyncio, h11)",
    )
    soak.add_arguments(parser)
    args = parser.parse_args(argv)
    if reason := stack_missing(args.stack):
        parser.error(reason)
    args.vendor = bench.vendors(parser, args.vendor)
    args.views = args.views.split(",")
    default_configs = "ours-transaction" if args.soak else ",".join(keys)
    args.configs = (args.configs or default_configs).split(",")
    if args.quick and not args.soak:
        args.duration, args.warmup = 3.0, 1.0
    for name, chosen, allowed in [
        ("--views", args.views, VIEWS),
        ("--configs", args.configs, keys),
    ]:
        if unknown := set(chosen) - set(allowed):
            parser.error(f"{name}: unknown {', '.join(sorted(unknown))}")
    try:
        args.view_clients = {
            view.strip(): int(number)
            for view, number in (item.split("=") for item in args.view_clients.split(",") if item)
        }
    except ValueError:
        parser.error("--view-clients: VIEW=N[,VIEW=N...], e.g. a=50,d=500")
    if unknown := set(args.view_clients) - set(VIEWS):
        parser.error(f"--view-clients: unknown view {', '.join(sorted(unknown))}")
    counts = [args.clients, *args.view_clients.values()]
    if not all(1 <= n <= MAX_CLIENTS for n in counts) or not 0 <= args.warmup <= 60:
        parser.error(f"keep it bounded: 1-{MAX_CLIENTS} clients, at most 60 s of warm-up")
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds: 1 to 10")
    if "d" in args.views and (reason := drf_missing()):
        parser.error(f"--views d: {reason}")
    if not args.soak and not 0 < args.duration <= 60:
        parser.error("at most 60 s per run (--soak for longer)")
    if args.soak:
        soak.check_arguments(parser, args)
    return args


def measure(
    server: Server, config: db.Configuration, view: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One configuration and view under load: its result row."""
    clients = args.view_clients.get(view, args.clients)
    row: dict[str, Any] = {
        "contender": config.label,
        "case": f"({view})",
        "clients": clients,
        "metrics": {},
    }
    vendor = server.vendor.name
    if vendor not in config.vendors:
        row["note"] = "PostgreSQL only"
        return row
    if reason := config.unavailable():
        row["note"] = reason
        return row
    if left := db.wait_for_no_sessions(server):
        print(f"    note: {left} sessions of the previous run still open", file=sys.stderr)
    bouncer = db.PgBouncer(server) if config.needs_pgbouncer else None
    try:
        if bouncer is not None:
            bouncer.start()
        database = config.database(server, bouncer.port if bouncer else None)
        with StormServer(database, args.stack) as site:

            def load(seconds: float) -> Any:
                return asyncio.run(
                    run_load(
                        site.url,
                        [VIEWS[view]],
                        clients=clients,
                        duration=seconds,
                        max_requests=args.max_requests,
                        check_answers=False,
                    )
                )

            if args.warmup:
                load(args.warmup)
            site.mark()
            sampler = db.SessionSampler(server)
            sampler.start()
            try:
                measured = load(args.duration)
            finally:
                sampler.stop()
            errors = dict(site.server_errors().most_common(3))
            row["metrics"] = report.metrics(measured, sampler.peak, errors)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        row["note"] = f"failed to run: {str(exc).strip().splitlines()[-1][:200]}"
    finally:
        if bouncer is not None:
            bouncer.stop()
    return row


def rotated(items: list[Any], by: int) -> list[Any]:
    """``items`` starting at index ``by`` (wrapping): each round's order of configurations.

    Rotated from round to round so that no configuration always runs right
    after the same one (a fixed order once made "parking off", always next
    after the ceiling, look 20 % faster than an A/B run of the two found).
    """
    if not items:
        return items
    by %= len(items)
    return items[by:] + items[:by]


def storm(server: Server, args: argparse.Namespace) -> bench.Recorder:
    keys = ("views", "configs", "clients", "view_clients", "duration", "warmup", "rounds", "stack")
    config = {k: getattr(args, k) for k in keys}
    config.update(pool_size=db.POOL_SIZE, connection_limit=db.CONNECTION_LIMIT)
    recorder = bench.Recorder("storm", server, config, args.quick)
    db.setup(server)
    chosen = [c for c in db.CONFIGURATIONS if c.key in args.configs]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for number in range(1, args.rounds + 1):
        for configuration in rotated(chosen, number - 1):
            for view in args.views:
                started = time.monotonic()
                row = measure(server, configuration, view, args)
                runs.setdefault((configuration.key, view), []).append(row)
                which = f" round {number}/{args.rounds}" if args.rounds > 1 else ""
                print(
                    f"  {server.vendor.name:<10} {configuration.label:<28} view ({view}){which}: "
                    f"{report.one_line(row)} [{time.monotonic() - started:.0f} s]",
                    flush=True,
                )
    recorder.rows = [report.median_row(rows) for rows in runs.values()]
    return recorder


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    found = bench.servers(args.vendor)
    print(f"django_multipool at {bench.source()}; uvicorn {' '.join(STACKS[args.stack])}")
    if args.soak:
        return soak.main(found, args)
    for vendor, server in found.items():
        recorder = storm(server, args)
        others = "".join(f", ({v}) {n}" for v, n in args.view_clients.items())
        print(f"\n{vendor}: {args.clients} clients{others}, {args.duration:g} s per run\n")
        print(report.table(recorder.rows))
        if ratios := report.ratios(vendor, recorder.rows):
            print("\nTarget ratios (printed, not asserted):\n  " + "\n  ".join(ratios))
        recorder.write(not args.no_json)
    return 0 if found else 2


if __name__ == "__main__":
    sys.exit(main())
