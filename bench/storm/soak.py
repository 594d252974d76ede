"""The storm's soak (issue 6): one configuration for minutes; do sessions and memory stay flat?

``python -m bench.storm --soak SECONDS``: for each vendor, the storm's
database and site served by a fresh ``uvicorn --workers 1`` with one
configuration (default: ours, ``release="transaction"``), under ``--clients``
concurrent clients cycling ``--views`` (default a,b). The load runs in
segments of ``--segment`` seconds (one ``run_load`` each, so throughput and
errors are seen over time). Every ``--interval`` seconds a thread with its
own admin connection records:

- **conns**: the server's sessions on the storm database (its own excluded);
- **app RSS**: resident memory of the uvicorn process, its threads and fds;
- **DB RSS**: PostgreSQL: the backends serving the storm database, summed,
  and their private part (``RssAnon``: a backend's RSS also counts the shared
  buffers it touched); MariaDB: the ``mariadbd`` process. Read from
  ``/proc``, so only for a server on this machine.

A second thread counts the sessions every 50 ms for the peak.

**Flat** means, after ``--soak-warmup`` seconds: the median of the last third
of the samples is at most the median of the first third plus a tolerance
(sessions: +1; memory: 5 % + 2 MiB; the app's threads and fds, which follow
the requests in flight: 10 % + 2), the session peak never exceeds the pool's
``max_size``, and no request failed. Exit status 1 if a vendor is not flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import _bootstrap as bench
from demo.load import run_load
from tests.servers import Server

from . import db
from .server import StormServer

VIEWS = {"a": "/a/", "b": "/b/"}
MIB = 1024 * 1024
#: How far above its start (median of the first third after the warm-up) a
#: series may end (median of the last third) and still be flat: (ratio, slack).
#: Threads and fds follow the requests in flight (asgiref runs each request's
#: sync code on a thread of its own), so they move more than sessions may.
SESSIONS_TOLERANCE = (1.0, 1)
MEMORY_TOLERANCE = (1.05, 2 * MIB)
INFLIGHT_TOLERANCE = (1.10, 2)


# -- reading /proc -------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon (bytes) and Threads of a local process; {} if it cannot be read."""
    wanted = {"VmRSS": 1024, "RssAnon": 1024, "Threads": 1}
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in wanted:
                found[name] = int(value.split()[0]) * wanted[name]
    except (OSError, ValueError):
        return {}
    return found


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def summed(pids: list[int]) -> tuple[int | None, int | None]:
    """(VmRSS, RssAnon) of ``pids`` added up; None where none could be read."""
    statuses = [s for s in (proc_status(pid) for pid in pids) if s]
    if not statuses:
        return None, None
    return sum(s.get("VmRSS", 0) for s in statuses), sum(s.get("RssAnon", 0) for s in statuses)


# -- the database server's view ---------------------------------------------------------


def pg_backends(conn: Any) -> list[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [db.DATABASE],
    ).fetchall()
    return [int(row[0]) for row in rows]


def mariadb_pid(conn: Any) -> int | None:
    cursor = conn.cursor()
    cursor.execute("SELECT @@pid_file")
    (pid_file,) = cursor.fetchone()
    cursor.close()
    try:
        return int(Path(str(pid_file)).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# -- sampling -------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    conns: int
    app_rss: int | None
    app_threads: int | None
    app_fds: int | None
    db_rss: int | None
    #: PostgreSQL only: the backends' private memory.
    db_anon: int | None


@dataclass
class Segment:
    t: float
    seconds: float
    ok: int
    failed: int


@dataclass
class Run:
    vendor: str
    config: str
    clients: int
    #: The pool's max_size: the most sessions the server should ever see.
    max_size: int
    samples: list[Sample] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    peak_conns: int = 0
    server_errors: dict[str, int] = field(default_factory=dict)


class Recorder:
    """Samples every ``interval`` seconds on a thread, with its own admin connection."""

    def __init__(self, server: Server, app_pid: int, interval: float, run: Run) -> None:
        self.vendor, self.app_pid, self.interval, self.run = run.vendor, app_pid, interval, run
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-recorder", daemon=True)
        self._conn = db.admin(server)
        self._db_pid = mariadb_pid(self._conn) if self.vendor == "mysql" else None
        self.failure: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self._conn.close()

    def sample(self) -> Sample:
        if self.vendor == "postgresql":
            backends = pg_backends(self._conn)
            conns = len(backends)
            db_rss, db_anon = summed(backends)
        else:
            conns = db.count_sessions(self._conn)
            db_rss = proc_status(self._db_pid).get("VmRSS") if self._db_pid else None
            db_anon = None
        app = proc_status(self.app_pid)
        return Sample(
            t=round(time.monotonic() - self.started, 1),
            conns=conns,
            app_rss=app.get("VmRSS"),
            app_threads=app.get("Threads"),
            app_fds=open_fds(self.app_pid),
            db_rss=db_rss,
            db_anon=db_anon,
        )

    def _loop(self) -> None:
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                self.run.samples.append(self.sample())
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        except BaseException as exc:  # reported by main(): a dead recorder proves nothing
            self.failure = exc


# -- the verdict ----------------------------------------------------------------------


@dataclass
class Series:
    name: str
    read: Callable[[Sample], int | None]
    tolerance: tuple[float, int]
    vendors: tuple[str, ...] = ("postgresql", "mysql")

    @property
    def memory(self) -> bool:
        return self.tolerance is MEMORY_TOLERANCE


SERIES = [
    Series("conns", lambda s: s.conns, SESSIONS_TOLERANCE),
    Series("app RSS", lambda s: s.app_rss, MEMORY_TOLERANCE),
    Series("app threads", lambda s: s.app_threads, INFLIGHT_TOLERANCE),
    Series("app fds", lambda s: s.app_fds, INFLIGHT_TOLERANCE),
    Series("DB RSS", lambda s: s.db_rss, MEMORY_TOLERANCE),
    # MariaDB is one process: its RSS is all there is.
    Series("DB private", lambda s: s.db_anon, MEMORY_TOLERANCE, ("postgresql",)),
]


def thirds(values: list[int]) -> tuple[float, float]:
    third = max(1, len(values) // 3)
    return statistics.median(values[:third]), statistics.median(values[-third:])


def slope_per_minute(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of ``points`` (t in s), per minute."""
    if len(points) < 2:
        return 0.0
    ts = [t for t, _ in points]
    mean_t, mean_v = statistics.fmean(ts), statistics.fmean(v for _, v in points)
    den = sum((t - mean_t) ** 2 for t in ts)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / den if den else 0.0


def show(value: float | None, memory: bool) -> str:
    if value is None:
        return "-"
    return f"{value / MIB:.1f} MiB" if memory else f"{value:g}"


def verdict(run: Run, warmup: float) -> tuple[bool, list[str], dict[str, dict[str, float | bool]]]:
    """Whether ``run`` stayed flat, the lines saying why, and each series' figures."""
    lines: list[str] = []
    figures: dict[str, dict[str, float | bool]] = {}
    flat = True
    measured = [s for s in run.samples if s.t >= warmup]
    if len(measured) < 6:
        return False, [f"only {len(measured)} samples after the warm-up: nothing to judge"], {}
    for series in SERIES:
        if run.vendor not in series.vendors:
            continue
        points = [(s.t, v) for s in measured if (v := series.read(s)) is not None]
        if len(points) < len(measured):
            lines.append(f"  {series.name:<12} not measured (not this machine's, or not readable)")
            continue
        values = [v for _, v in points]
        first, last = thirds(values)
        ratio, slack = series.tolerance
        ok = last <= first * ratio + slack
        rule = f"<= first{f' x {ratio:g}' if ratio != 1 else ''} + {show(slack, series.memory)}"
        flat &= ok
        start, middle, end = values[0], values[len(values) // 2], values[-1]
        rate = slope_per_minute(points)
        unit = MIB if series.memory else 1

        def scaled(value: float, unit: int = unit) -> float:
            return round(value / unit, 1) if unit != 1 else value

        figures[series.name + (" (MiB)" if series.memory else "")] = {
            "start": scaled(start),
            "middle": scaled(middle),
            "end": scaled(end),
            "first_third": scaled(first),
            "last_third": scaled(last),
            "trend_per_min": round(rate / unit, 4),
            "flat": ok,
        }
        lines.append(
            f"  {series.name:<12} start {show(start, series.memory):>10}  middle "
            f"{show(middle, series.memory):>10}  end {show(end, series.memory):>10} | "
            f"median first third {show(first, series.memory)}, last third "
            f"{show(last, series.memory)} ({rule}): {'flat' if ok else 'GREW'}; "
            f"trend {rate / MIB if series.memory else rate:+.3f}"
            f"{' MiB' if series.memory else ''}/min"
        )
    peak_ok = run.peak_conns <= run.max_size
    flat &= peak_ok
    lines.append(
        f"  peak sessions {run.peak_conns} (max_size {run.max_size}): "
        f"{'ok' if peak_ok else 'OVER'}"
    )
    failed = sum(seg.failed for seg in run.segments)
    served = sum(seg.ok for seg in run.segments)
    flat &= failed == 0
    seconds = sum(seg.seconds for seg in run.segments)
    lines.append(
        f"  requests: {served:,} served ({served / seconds if seconds else 0:.0f}/s), "
        f"{failed} failed" + (f"; server errors: {run.server_errors}" if run.server_errors else "")
    )
    figures["requests"] = {
        "served": served,
        "failed": failed,
        "req_per_s": round(served / seconds, 1) if seconds else 0.0,
    }
    return flat, lines, figures


# -- running ---------------------------------------------------------------------------


def soak(server: Server, args: argparse.Namespace) -> Run:
    vendor = server.vendor.name
    config = db.BY_KEY[args.configs[0]]
    if vendor not in config.vendors:
        raise SystemExit(f"{config.key} does not run on {vendor}")
    if reason := config.unavailable():
        raise SystemExit(f"{config.key}: {reason}")
    if config.needs_pgbouncer:
        raise SystemExit("--soak runs the configurations that need no PgBouncer")
    db.setup(server)
    db.wait_for_no_sessions(server)
    database = config.database(server, None)
    pool = database["OPTIONS"].get("pool") or {}
    run = Run(vendor, config.label, args.clients, pool.get("max_size", db.POOL_SIZE))
    paths = [VIEWS[v] for v in args.views]
    with StormServer(database, args.stack) as site:
        assert site.process is not None
        recorder = Recorder(server, site.process.pid, args.interval, run)
        peak = db.SessionSampler(server)
        recorder.start()
        peak.start()
        started = time.monotonic()
        last_minute = -1
        try:
            while (elapsed := time.monotonic() - started) < args.soak:
                seconds = min(args.segment, args.soak - elapsed)
                load = asyncio.run(
                    run_load(
                        site.url,
                        paths,
                        clients=args.clients,
                        duration=seconds,
                        max_requests=10**9,
                        check_answers=False,
                    )
                )
                run.segments.append(
                    Segment(
                        t=round(elapsed, 1),
                        seconds=load.elapsed,
                        ok=load.ok,
                        failed=load.not_ok + sum(load.errors.values()),
                    )
                )
                minute = int((time.monotonic() - started) // 60)
                if minute != last_minute and run.samples:
                    last_minute = minute
                    s = run.samples[-1]
                    print(
                        f"  {vendor:<10} t={s.t:6.0f}s conns {s.conns:>3}  app RSS "
                        f"{show(s.app_rss, True):>10}  DB RSS {show(s.db_rss, True):>10}  "
                        f"{load.ok / load.elapsed:6.0f} req/s, {run.segments[-1].failed} failed",
                        flush=True,
                    )
        finally:
            peak.stop()
            recorder.stop()
        if recorder.failure is not None:
            raise RuntimeError(f"the recorder died: {recorder.failure!r}")
        run.peak_conns = peak.peak
        run.server_errors = dict(site.server_errors().most_common(3))
    return run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("soak (--soak SECONDS)")
    group.add_argument("--soak", type=float, metavar="SECONDS", help="soak for this long")
    group.add_argument("--soak-warmup", type=float, default=60, help="seconds not judged (60)")
    group.add_argument("--interval", type=float, default=5, help="seconds between samples (5)")
    group.add_argument("--segment", type=float, default=30, help="seconds per load run (30)")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.quick:
        args.soak, args.soak_warmup, args.interval, args.segment = 60, 15, 2, 15
        args.clients = min(args.clients, 50)
    if len(args.configs) != 1:
        parser.error("--soak runs one configuration: --configs KEY")
    if set(args.views) - set(VIEWS):
        parser.error("--soak: --views a,b")
    if args.soak_warmup >= args.soak:
        parser.error("--soak-warmup must be shorter than --soak")


def main(found: dict[str, Server], args: argparse.Namespace) -> int:
    print(
        f"soak: {args.configs[0]}, {args.clients} clients on views {','.join(args.views)}, "
        f"{args.soak:g} s per vendor (first {args.soak_warmup:g} s not judged), "
        f"a sample every {args.interval:g} s; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    all_flat = True
    for vendor, server in found.items():
        recorder = bench.Recorder(
            "soak",
            server,
            {
                k: getattr(args, k)
                for k in ("configs", "views", "clients", "soak", "soak_warmup", "interval")
            },
            args.quick,
        )
        run = soak(server, args)
        flat, lines, figures = verdict(run, args.soak_warmup)
        all_flat &= flat
        print(f"\n{vendor}: {'FLAT' if flat else 'NOT FLAT'}")
        print("\n".join(lines), flush=True)
        for series, metrics in figures.items():
            recorder.add(run.config, series, **metrics)
        recorder.add(run.config, "verdict", flat=flat, peak_conns=run.peak_conns)
        recorder.data = asdict(run)
        recorder.write(not args.no_json)
    return 0 if all_flat else 1
