"""How fast a pool grows under a burst: a pool of 40 meets 60 busy threads (issue 18).

    python -m bench.growth [--vendor postgresql,mysql] [--rounds 5] [--max-size 40]
                           [--threads 60] [--hold 0.05] [--quick]

For each vendor and round: a fresh pool (``min_size=2``, ``max_size``), then
``--threads`` threads at once, each one in a loop of checkout, a statement
that holds the connection ``--hold`` seconds on the server (``pg_sleep`` /
``SLEEP``) and return, as a burst of busy requests would. A sampler on its
own admin connection counts the server's sessions on the bench database
every 5 ms. Reported per round: the seconds from the burst's start until
the server held ``max_size`` sessions (the pool's core opens connections
WORKERS at a time; one at a time, 40 sessions took a connect time each),
and until the pool's own stats said ``max_size``; the median and the worst
round. Prints the target (within one second), asserts nothing.

Writes bench/results/growth-<vendor>.json.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from bench import _bootstrap as bench
from bench.storm import db as storm_db
from tests.servers import Server

#: Seconds a round may take to reach max_size before it is called a miss.
GIVE_UP = 10.0
SAMPLE_EVERY = 0.005
HOLD_SQL = {"postgresql": "SELECT pg_sleep(%s)", "mysql": "SELECT SLEEP(%s)"}


def alias_of(vendor: str, number: int) -> str:
    return f"{vendor}_growth_{number}"


def burst(
    vendor: str, alias: str, threads: int, hold: float, stop: threading.Event
) -> tuple[list[threading.Thread], list[BaseException]]:
    """Start ``threads`` busy borrowers on ``alias`` at once: the threads and their errors."""
    from django.db import connections

    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def borrower() -> None:
        connection = connections[alias]
        start.wait()
        try:
            while not stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(HOLD_SQL[vendor], [hold])
                connection.close()  # back to the pool, as at a request's end
        except BaseException as exc:  # reported by the round, not lost in a thread
            errors.append(exc)
        finally:
            connection.close()

    started = [threading.Thread(target=borrower, daemon=True) for _ in range(threads)]
    for thread in started:
        thread.start()
    start.wait()
    return started, errors


def one_round(
    vendor: str, server: Server, alias: str, args: argparse.Namespace
) -> dict[str, float | None]:
    from django.db import connections

    adapter = connections[alias].pool
    assert adapter is not None
    admin = storm_db.admin(server)
    deadline = time.monotonic() + 10
    while adapter.stats().pool_size < 2 and time.monotonic() < deadline:  # min_size, opened
        time.sleep(0.01)
    stop = threading.Event()
    t0 = time.monotonic()
    threads, errors = burst(vendor, alias, args.threads, args.hold, stop)
    to_server = to_stats = None
    peak = 0
    try:
        while time.monotonic() - t0 < GIVE_UP and (to_server is None or to_stats is None):
            now = time.monotonic() - t0
            if to_stats is None and adapter.stats().pool_size >= args.max_size:
                to_stats = now
            sessions = storm_db.count_sessions(admin, bench.DATABASE)
            peak = max(peak, sessions)
            if to_server is None and sessions >= args.max_size:
                to_server = time.monotonic() - t0
            time.sleep(SAMPLE_EVERY)
    finally:
        stop.set()
        for thread in threads:
            thread.join(GIVE_UP)
        admin.close()
        connections[alias].close_pool()
    if errors:
        raise SystemExit(f"{vendor}: a borrower failed: {errors[0]!r}")
    return {"to_server_s": to_server, "to_stats_s": to_stats, "peak_sessions": peak}


def measure(vendor: str, server: Server, args: argparse.Namespace) -> bench.Recorder:
    config = {k: getattr(args, k) for k in ("rounds", "max_size", "threads", "hold")}
    recorder = bench.Recorder("growth", server, config, args.quick)
    rounds = []
    for number in range(1, args.rounds + 1):
        storm_db.wait_for_no_sessions_on(server, bench.DATABASE)
        result = one_round(vendor, server, alias_of(vendor, number), args)
        rounds.append(result)
        shown = {k: "missed" if v is None else f"{v:.3f}" for k, v in result.items()}
        print(
            f"  {vendor:<10} round {number}: {args.max_size} server sessions after "
            f"{shown['to_server_s']} s (pool stats: {shown['to_stats_s']} s), "
            f"peak {result['peak_sessions']}",
            flush=True,
        )
    reached = [r["to_server_s"] for r in rounds if r["to_server_s"] is not None]
    missed = len(rounds) - len(reached)
    median = statistics.median(reached) if reached else None
    worst = max(reached) if reached and not missed else None
    recorder.add(
        f"ours, pool of {args.max_size}, {args.threads} threads",
        "growth to max_size",
        median_s=None if median is None else round(median, 3),
        worst_s=None if worst is None else round(worst, 3),
        rounds_s=[None if (s := r["to_server_s"]) is None else round(s, 3) for r in rounds],
        missed=missed,
        peak_sessions=max(int(r["peak_sessions"] or 0) for r in rounds),
    )
    verdict = (
        f"median {median:.3f} s, worst {'missed' if worst is None else f'{worst:.3f} s'}"
        if median is not None
        else f"missed in all {len(rounds)} rounds"
    )
    print(f"\n{vendor}: to {args.max_size} server sessions, {verdict} (target: within 1 s)")
    return recorder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench.add_common_arguments(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-size", type=int, default=40)
    parser.add_argument("--threads", type=int, default=60)
    parser.add_argument("--hold", type=float, default=0.05, help="seconds per statement")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 2
    if not 1 <= args.max_size <= storm_db.CONNECTION_LIMIT or args.threads < args.max_size:
        parser.error(f"--max-size 1-{storm_db.CONNECTION_LIMIT}, and at least as many --threads")
    found = bench.servers(bench.vendors(parser, args.vendor))
    for server in found.values():
        bench.probe(server).ensure_database(bench.DATABASE)
    pool = {"min_size": 2, "max_size": args.max_size, "timeout": GIVE_UP}
    # One alias per round: each round's pool is new, as after a deploy.
    bench.configure(
        {
            alias_of(vendor, number): bench.entry(server, pool)
            for vendor, server in found.items()
            for number in range(1, args.rounds + 1)
        }
    )
    for vendor, server in found.items():
        measure(vendor, server, args).write(not args.no_json)
    return 0 if found else 2


if __name__ == "__main__":
    raise SystemExit(main())
