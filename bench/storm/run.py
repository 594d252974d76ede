"""Connection-storm benchmark (issue 4): seven ways to pool Django's connections, side by side.

For each vendor, configuration and view: a fresh ``uvicorn --workers 1`` on
127.0.0.1 serving ``storm_site``; ``--clients`` concurrent clients for a
warm-up, then ``--duration`` seconds of measured load while a thread samples
the server's sessions on the bench database. Prints a table, writes
``bench/storm/results-<vendor>.md`` and ``docs/img/storm-<vendor>.png``, and
prints issue 4's target ratios. It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# demo (and django_multipool, also installed editable) after PYTHONPATH, so
# PYTHONPATH=<an exported tree> benches that tree's django_multipool.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

import storm_db  # noqa: E402
import storm_report  # noqa: E402
from storm_load import run_load  # noqa: E402
from storm_server import STACKS, StormServer, stack_missing  # noqa: E402

from demo.load import LoadResult  # noqa: E402

VIEWS = {"a": "/a/", "b": "/b/", "c": "/c/"}
VENDORS = ("postgresql", "mariadb")


@dataclass
class Result:
    vendor: str
    config: storm_db.Configuration
    view: str
    clients: int
    load: LoadResult | None = None
    peak: int = 0
    samples: int = 0
    #: Why the configuration did not run (not available, failed to start), or None.
    skipped: str | None = None
    server_errors: dict[str, int] = field(default_factory=dict)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    keys = [c.key for c in storm_db.CONFIGURATIONS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vendor", default="postgresql,mariadb", help="postgresql,mariadb")
    parser.add_argument(
        "--views",
        default="a,b",
        help="a (sync, 1 query), b (async, 0.2 s), c (sync, 20 queries; not by default)",
    )
    parser.add_argument("--configs", default=",".join(keys), help=",".join(keys))
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds (8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (200)")
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
    parser.add_argument("--no-files", action="store_true", help="print only; write no files")
    args = parser.parse_args(argv)
    if reason := stack_missing(args.stack):
        parser.error(reason)
    args.vendor = args.vendor.split(",")
    args.views = args.views.split(",")
    args.configs = args.configs.split(",")
    for name, chosen, allowed in [
        ("--vendor", args.vendor, VENDORS),
        ("--views", args.views, VIEWS),
        ("--configs", args.configs, keys),
    ]:
        if unknown := set(chosen) - set(allowed):
            parser.error(f"{name}: unknown {', '.join(sorted(unknown))}")
    if not 1 <= args.clients <= 200 or not 0 < args.duration <= 60 or not 0 <= args.warmup <= 10:
        parser.error("keep it bounded: 1-200 clients, at most 60 s per run, 10 s warm-up")
    return args


def measure(
    vendor: str, config: storm_db.Configuration, view: str, args: argparse.Namespace
) -> Result:
    result = Result(vendor, config, view, args.clients)
    if vendor not in config.vendors:
        result.skipped = "PostgreSQL only"
        return result
    if reason := config.unavailable():
        result.skipped = reason
        return result
    left = storm_db.wait_for_no_connections(vendor)
    if left:
        print(f"    note: {left} sessions of the previous run still open", file=sys.stderr)
    bouncer = storm_db.PgBouncer() if config.needs_pgbouncer else None
    try:
        if bouncer is not None:
            bouncer.start()
        database = config.database(vendor, bouncer.port if bouncer else None)
        with StormServer(database, args.stack) as server:
            path = VIEWS[view]
            if args.warmup:
                asyncio.run(
                    run_load(
                        server.url,
                        [path],
                        clients=args.clients,
                        duration=args.warmup,
                        max_requests=args.max_requests,
                    )
                )
            server.mark()
            connect, count = storm_db.SAMPLING[vendor]
            sampler = storm_db.Sampler(connect, count)
            sampler.start()
            try:
                result.load = asyncio.run(
                    run_load(
                        server.url,
                        [path],
                        clients=args.clients,
                        duration=args.duration,
                        max_requests=args.max_requests,
                    )
                )
            finally:
                sampler.stop()
            result.peak, result.samples = sampler.peak, len(sampler.samples)
            result.server_errors = dict(server.server_errors().most_common(3))
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        result.skipped = f"failed to run: {str(exc).strip().splitlines()[-1][:200]}"
    finally:
        if bouncer is not None:
            bouncer.stop()
    return result


def commit_ran() -> str:
    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    import django_multipool

    source = Path(django_multipool.__file__).resolve().parent.parent
    if source != ROOT:
        return f"the tree at {source} (PYTHONPATH)"
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "django_multipool")
    return head + (" + uncommitted changes in django_multipool/" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    transaction = storm_db.release_transaction_available()
    commit = commit_ran()
    print(
        f"django_multipool at {commit}; release='transaction' "
        f"{'available' if transaction else 'not available yet'}; "
        f"uvicorn {' '.join(STACKS[args.stack])}"
    )
    all_results: dict[str, list[Result]] = {}
    for vendor in args.vendor:
        storm_db.SETUP[vendor]()
        load_before = os.getloadavg()[0]
        results = all_results[vendor] = []
        for config in storm_db.CONFIGURATIONS:
            if config.key not in args.configs:
                continue
            for view in args.views:
                started = time.monotonic()
                result = measure(vendor, config, view, args)
                results.append(result)
                print(
                    f"  {vendor:<10} {config.label:<28} view ({view}): "
                    f"{storm_report.one_line(result)} [{time.monotonic() - started:.0f} s]",
                    flush=True,
                )
        table = storm_report.table(results)
        # Other work on the machine shows up in every figure: say how busy it was.
        machine = f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
        print(
            f"\n{vendor}: {args.clients} clients, {args.duration:g} s per run; "
            f"{machine}\n\n{table}\n"
        )
        if not args.no_files:
            storm_report.write_markdown(
                HERE / f"results-{vendor}.md", vendor, results, args, commit, machine
            )
            chart = ROOT / "docs" / "img" / f"storm-{vendor}.png"
            storm_report.chart(chart, vendor, results, args)
            print(f"wrote {HERE / f'results-{vendor}.md'} and {chart}")
    print()
    print(storm_report.ratios(all_results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
