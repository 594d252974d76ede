"""What every benchmark shares: its servers, Django's settings, timing and the results file.

Servers come from the test suite's own discovery (``tests/servers.py``:
``MULTIPOOL_<VENDOR>_DSN``, else a container), so a bench runs wherever the
tests run and no script parses a DSN of its own. Results are one JSON file
per bench and vendor in ``bench/results/`` (schema in bench/README.md),
rendered by ``python -m bench.render``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.probes import Probe, probe_class
from tests.servers import Server, find_server, required_vendors

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results"
#: The database the micro-benchmarks use, created if missing.
DATABASE = "multipool_bench"
#: Bumped when a field changes meaning; bench/render.py reads this version.
SCHEMA = 1
#: The vendors the benches know, in the order they run.
VENDOR_NAMES = ("postgresql", "mysql")
#: Packages whose versions a result records, where installed: the vendor's
#: drivers, and for the benches that serve HTTP the web stack.
PACKAGES = {
    "postgresql": ("psycopg", "psycopg-binary", "psycopg-pool"),
    "mysql": ("mysql-connector-python", "mysqlclient"),
    "http": ("django-db-connection-pool", "uvicorn", "uvloop", "httptools"),
}
HTTP_BENCHES = {"storm", "soak"}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vendor",
        default=",".join(VENDOR_NAMES),
        help=f"comma-separated, of {', '.join(VENDOR_NAMES)} (default: both)",
    )
    parser.add_argument("--quick", action="store_true", help="a short run that proves it works")
    parser.add_argument("--no-json", action="store_true", help="print only; write no results")


def vendors(parser: argparse.ArgumentParser, value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if unknown := set(names) - set(VENDOR_NAMES):
        parser.error(f"--vendor: unknown {', '.join(sorted(unknown))}")
    return names


def servers(names: Iterable[str]) -> dict[str, Server]:
    """Each vendor's server; one without is skipped, unless MULTIPOOL_REQUIRE names it."""
    found: dict[str, Server] = {}
    for name in names:
        server, why = find_server(name)
        if server is None:
            if name in required_vendors():
                raise SystemExit(f"MULTIPOOL_REQUIRE names {name}, but {why}")
            print(f"{name}: skipped ({why})", file=sys.stderr)
            continue
        found[name] = server
    return found


def probe(server: Server) -> Probe:
    return probe_class(server.vendor.name)(server)


def entry(
    server: Server, pool: Any = None, *, database: str = DATABASE, **extra: Any
) -> dict[str, Any]:
    """A DATABASES entry on ``server``: our ENGINE unless ``ENGINE`` is given; None: no pool."""
    options = dict(extra.pop("OPTIONS", {}))
    if pool is not None:
        options["pool"] = pool
    return server.settings(name=database, OPTIONS=options, **extra)


def configure(databases: dict[str, dict[str, Any]]) -> None:
    """Configure Django for a benchmark process (once, before any connection)."""
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={"default": {}, **databases},
        INSTALLED_APPS=["django_multipool"],
        USE_TZ=True,
        TIME_ZONE="UTC",
    )
    django.setup()


def close_all() -> None:
    from django.db import connections

    from django_multipool.backends.registry import registry

    for connection in connections.all():
        connection.close()
    registry.close_all()


# -- timing ------------------------------------------------------------------


def timed(call: Callable[[], object], iterations: int) -> Callable[[], float]:
    """A round: ``iterations`` calls, collector off (as timeit does); returns µs per call."""

    def round_() -> float:
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter_ns()
            for _ in range(iterations):
                call()
            return (time.perf_counter_ns() - started) / iterations / 1000
        finally:
            gc.enable()

    return round_


def best_of(rounds: int, contenders: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Best result of each contender's round; rounds interleave, so drift hits all alike."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, run in contenders.items():
            best[name] = min(best[name], run())
    return best


def alternating_medians(n: int, contenders: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median µs per call, the contenders alternating call by call.

    A burst of load on a shared machine outlasts one call, so it hits every
    contender alike, and the median ignores it.
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


# -- results -----------------------------------------------------------------


def _git(*command: str) -> str:
    done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def source() -> str:
    """Which django_multipool ran: the commit, and whether its tree had changes."""
    import django_multipool

    where = Path(django_multipool.__file__).resolve().parent.parent
    if where != ROOT:
        return f"the tree at {where}"
    dirty = _git("status", "--porcelain", "--", "django_multipool")
    return _git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def server_version(server: Server) -> str:
    try:
        return str(probe(server).execute("SELECT version()")[0][0])
    except Exception as exc:  # a result without the version is still a result
        return f"unknown ({type(exc).__name__})"


class Recorder:
    """Collects one bench's rows for one vendor and writes them as one JSON file."""

    def __init__(self, bench: str, server: Server, config: dict[str, Any], quick: bool) -> None:
        self.bench, self.server, self.quick = bench, server, quick
        self.config = config
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        #: Bench-specific raw data (the soak's samples), kept beside the rows.
        self.data: dict[str, Any] = {}
        self._load_before = os.getloadavg()[0]

    def add(self, contender: str, case: str, note: str | None = None, **metrics: Any) -> None:
        row: dict[str, Any] = {"contender": contender, "case": case, "metrics": metrics}
        if note:
            row["note"] = note
        self.rows.append(row)

    def document(self) -> dict[str, Any]:
        import django

        drivers = {}
        names = PACKAGES[self.server.vendor.name]
        if self.bench in HTTP_BENCHES:
            names += PACKAGES["http"]
        for name in names:
            with contextlib.suppress(metadata.PackageNotFoundError):
                drivers[name] = metadata.version(name)
        return {
            "schema": SCHEMA,
            "bench": self.bench,
            "vendor": self.server.vendor.name,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "quick": self.quick,
            "config": self.config,
            "environment": {
                "python": platform.python_version(),
                "django": django.get_version(),
                "django_multipool": source(),
                "drivers": drivers,
                "server": server_version(self.server),
                "cpus": os.cpu_count(),
                "load_average": [round(self._load_before, 2), round(os.getloadavg()[0], 2)],
                "platform": platform.platform(),
            },
            "results": self.rows,
            "notes": self.notes,
            **({"data": self.data} if self.data else {}),
        }

    def write(self, enabled: bool = True) -> Path | None:
        if not enabled:
            return None
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.bench}-{self.server.vendor.name}.json"
        path.write_text(json.dumps(self.document(), indent=1) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
        return path
