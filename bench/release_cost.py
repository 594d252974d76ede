"""What release="transaction" costs against release="request", in the same run.

    python -m bench.release_cost [--vendor postgresql,mysql] [--rounds 7] [--requests 300]
                                 [--cycles 20000] [--max-size 4] [--quick]

For each vendor, two aliases on the same database differ only in
``OPTIONS["pool"]["release"]``:

1. a sync "view" running 20 trivial queries (``SELECT 1`` through Django's
   cursor: the least work per statement to hide a checkout behind), then
   ``close_old_connections()`` as at a request's end: the median µs per
   request over ``rounds x requests`` requests, the two modes alternating
   request by request, and the ratio transaction / request;
2. an empty ``with connection.cursor(): pass`` in each mode, best of
   ``--rounds``: the difference is what a release and a re-lease add to
   every statement.

A third contender, ``transaction, parking off``, is transaction mode with
its adapter's ``parks`` turned off: every statement's connection goes
through the pool's return path and a checkout instead of waiting at the
session's parking spot. The difference is what parking buys.

Writes bench/results/release_cost-<vendor>.json.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench import _bootstrap as bench

QUERIES_PER_VIEW = 20
MODES = ("request", "transaction")
#: Contender -> the release mode of its alias (the last one's adapter does not park).
UNPARKED = "transaction, parking off"
CONTENDERS = {"request": "request", "transaction": "transaction", UNPARKED: "transaction"}


def view(alias: str) -> Callable[[], None]:
    from django.db import close_old_connections, connections

    connection = connections[alias]

    def request() -> None:
        for _ in range(QUERIES_PER_VIEW):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        close_old_connections()

    return request


def alias_of(vendor: str, contender: str) -> str:
    return f"{vendor}_{contender.replace(', ', '_').replace(' ', '_')}"


def empty_cursor(alias: str) -> Callable[[], None]:
    from django.db import connections

    connection = connections[alias]
    connection.ensure_connection()

    def statement() -> None:
        with connection.cursor():
            pass

    return statement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench.add_common_arguments(parser)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300, help="per round")
    parser.add_argument("--cycles", type=int, default=20_000, help="empty cursors per round")
    parser.add_argument(
        "--max-size", type=int, default=4, help="1 keeps every statement on one server session"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.cycles = 2, 50, 2000
    found = bench.servers(bench.vendors(parser, args.vendor))
    pool = {"min_size": 1, "max_size": args.max_size}
    for server in found.values():
        bench.probe(server).ensure_database(bench.DATABASE)
    bench.configure(
        {
            alias_of(vendor, contender): bench.entry(server, {**pool, "release": mode})
            for vendor, server in found.items()
            for contender, mode in CONTENDERS.items()
        }
    )
    from django.db import close_old_connections, connections

    for vendor, server in found.items():
        config = {**vars(args), "pool": pool, "queries_per_view": QUERIES_PER_VIEW}
        for key in ("vendor", "quick", "no_json"):
            config.pop(key)
        recorder = bench.Recorder("release_cost", server, config, args.quick)
        aliases = {contender: alias_of(vendor, contender) for contender in CONTENDERS}
        for alias in aliases.values():  # warm the pools and Django's caches
            for _ in range(3):
                view(alias)()
        adapter = connections[aliases[UNPARKED]].pool
        assert adapter is not None and adapter.parks, "the vendor's adapter does not park"
        adapter.parks = False
        views = bench.alternating_medians(
            args.rounds * args.requests, {mode: view(alias) for mode, alias in aliases.items()}
        )
        cursors = bench.best_of(
            args.rounds,
            {
                mode: bench.timed(empty_cursor(alias), args.cycles)
                for mode, alias in aliases.items()
            },
        )
        close_old_connections()
        print(f"\n{vendor}: {QUERIES_PER_VIEW} x SELECT 1 then request end; an empty cursor")
        for mode in CONTENDERS:
            ratio = views[mode] / views["request"]
            extra = cursors[mode] - cursors["request"]
            label = f'release="{mode}"' if mode in MODES else 'release="transaction", parking off'
            recorder.add(
                label,
                "20-query view",
                us_per_request=round(views[mode], 1),
                ratio=round(ratio, 3),
            )
            recorder.add(
                label,
                "empty cursor",
                us_per_statement=round(cursors[mode], 3),
                extra_us=round(extra, 3),
            )
            print(
                f"  {label:<38} {views[mode]:9.1f} µs/request ({ratio:.3f}x request)"
                f"   {cursors[mode]:6.2f} µs/statement (+{extra:.2f})"
            )
        for alias in aliases.values():
            connections[alias].close()
        recorder.write(not args.no_json)
    bench.close_all()
    return 0 if found else 2


if __name__ == "__main__":
    raise SystemExit(main())
