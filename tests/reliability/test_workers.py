"""Several worker processes, one pool each: the server never sees more than workers x max_size.

tests/asgi_site is served by ``uvicorn --workers 2`` and by gunicorn with
uvicorn workers (``gunicorn -k uvicorn.workers.UvicornWorker -w 2``) under a
load far above what the pools can serve at once, while a sampler counts the
site database's sessions on the server. Every request must succeed (the
pools queue the excess), the count must never pass workers x max_size, and
every worker's pool must have been used. On PostgreSQL, where every session
names its pool and process (application_name), each worker's pool must also
have reached exactly max_size, and no more, by itself.

The figures (requests per second, peak sessions) are printed: run with
``-s`` to read them. They are measured wherever the suite runs, usually a
busy machine: compare them with each other, not with a benchmark.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from django_multipool.identity import PoolIdentity

from ..probes import Probe
from ..servers import Server
from ..test_asgi import Site, free_port, wait_until_serving

pytestmark = [pytest.mark.vendor, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent.parent
DATABASE = "multipool_workers"
WORKERS = 2
MAX_SIZE = 4
CONCURRENCY = 64
REQUESTS = 600
PATHS = ["/sync/", "/async/"]


def servers(port: int) -> dict[str, list[str]]:
    return {
        "uvicorn": [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.asgi_site.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        "gunicorn": [
            sys.executable,
            "-m",
            "gunicorn",
            "tests.asgi_site.asgi:application",
            "-k",
            "uvicorn.workers.UvicornWorker",
            "-w",
            str(WORKERS),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "5",
        ],
    }


def serve(server: Server, probe: Probe, kind: str) -> Iterator[Site]:
    probe.ensure_database(DATABASE)
    entry = server.settings(name=DATABASE)
    entry["OPTIONS"]["pool"] = {"min_size": 1, "max_size": MAX_SIZE, "timeout": 30}
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.asgi_site.settings",
        MULTIPOOL_ASGI_DATABASE=json.dumps(entry),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        # gunicorn's deprecated uvicorn.workers warns at import; not an error here.
        PYTHONWARNINGS="ignore::DeprecationWarning",
    )
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix=f"multipool-{kind}-", suffix=".log") as log:
        process = subprocess.Popen(
            servers(port)[kind], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        site = Site(f"http://127.0.0.1:{port}", process, log)
        try:
            wait_until_serving(site)
            yield site
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Sampler(threading.Thread):
    """The site database's sessions, from outside, every few milliseconds."""

    def __init__(self, probe: Probe, vendor: str) -> None:
        super().__init__(daemon=True)
        self.probe, self.vendor = probe, vendor
        self.totals: list[int] = []
        #: PostgreSQL: the most sessions seen at once per (pid, host) of a pool.
        self.peak_per_process: Counter[tuple[int, str]] = Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        if self.vendor == "postgresql":
            import psycopg

            s = self.probe.server
            # One session of its own, on another database: it is not counted.
            with psycopg.connect(
                host=s.host, port=s.port, user=s.user, password=s.password,
                dbname=s.database or "postgres", autocommit=True,
            ) as conn:  # fmt: skip
                while not self.stopping.is_set():
                    rows = conn.execute(
                        "SELECT application_name FROM pg_stat_activity WHERE datname = %s",
                        (DATABASE,),
                    ).fetchall()
                    self.sample_identities(rows)
                    self.stopping.wait(0.005)
            return
        while not self.stopping.is_set():
            self.totals.append(self.probe.count_connections(DATABASE))
            self.stopping.wait(0.005)

    def sample_identities(self, rows: list[tuple[str]]) -> None:
        self.totals.append(len(rows))
        now = Counter(
            (identity.pid, identity.host)
            for (name,) in rows
            if (identity := PoolIdentity.parse(name)) is not None
        )
        for process, count in now.items():
            self.peak_per_process[process] = max(self.peak_per_process[process], count)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


async def load(url: str) -> tuple[list[int | str], float]:
    """REQUESTS requests, CONCURRENCY at a time; their statuses and the seconds taken."""
    statuses: list[int | str] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(PATHS[i % len(PATHS)])
    # A new connection per request, as from many browsers: kept-alive
    # connections would stay with the worker that accepted them first, and
    # one worker's event loop can accept all of them.
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            path = queue.get_nowait()
            try:
                statuses.append((await client.get(path)).status_code)
            except httpx.HTTPError as exc:
                statuses.append(repr(exc))

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60, trust_env=False) as c:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(CONCURRENCY):
                group.create_task(client_loop(c))
        return statuses, time.perf_counter() - started


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn"])
def test_workers_times_max_size_sessions_never_more_and_no_errors(
    vendor: str, server: Server, probe: Probe, kind: str
) -> None:
    site_iter = serve(server, probe, kind)
    site = next(site_iter)
    sampler = Sampler(probe, vendor)
    sampler.start()
    try:
        statuses, seconds = asyncio.run(load(site.url))
    finally:
        sampler.stop()
        output = site.output()
        site_iter.close()
    failed = [s for s in statuses if s != 200]
    assert not failed, f"{len(failed)} failed requests, e.g. {failed[:3]}\n{output}"
    assert len(statuses) == REQUESTS
    peak = max(sampler.totals)
    print(
        f"\n{vendor} {kind} --workers {WORKERS}, max_size {MAX_SIZE}: {REQUESTS} requests, "
        f"{CONCURRENCY} at a time, in {seconds:.2f} s = {REQUESTS / seconds:.0f} req/s; "
        f"peak server sessions {peak} (limit {WORKERS * MAX_SIZE}), "
        f"{len(sampler.totals)} samples"
    )
    assert peak <= WORKERS * MAX_SIZE, f"{peak} sessions: more than {WORKERS} x {MAX_SIZE}"
    # Both workers served: one worker's pool alone cannot open more than MAX_SIZE.
    assert peak > MAX_SIZE, f"peak {peak}: only one worker's pool was seen"
    if vendor == "postgresql":
        per_process = sampler.peak_per_process
        assert len(per_process) == WORKERS, per_process
        assert set(per_process.values()) == {MAX_SIZE}, per_process
