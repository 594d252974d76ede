"""Under a real ASGI server, a burst of concurrent requests leaves no connection behind.

uvicorn serves tests/asgi_site (sync and async views, our ENGINE, max_size=5)
in a child process; 100 concurrent requests hit it twice while a probe counts
the server's sessions from outside. It fails if a request errors (a leaked
connection exhausts the pool into PoolTimeouts), if the server ever sees more
sessions than max_size (Django's own backend under ASGI opens one per
request), or if the pool is not whole again afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .probes import Probe
from .servers import Server

pytestmark = [pytest.mark.vendor, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
#: The site's own database, so its tables and sessions touch no other test.
DATABASE = "multipool_asgi"
MAX_SIZE = 5
CONCURRENCY = 100
WAVES = 2
PATHS = ["/sync/", "/async/"]


@dataclass
class Site:
    url: str
    process: subprocess.Popen[bytes]
    log: Any

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-5000:]

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/stats/", timeout=10, trust_env=False)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()["default"]
        return stats


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def site(server: Server, probe: Probe) -> Iterator[Site]:
    yield from start_site(
        server, probe, DATABASE, {"min_size": 1, "max_size": MAX_SIZE, "timeout": 10}
    )


def start_site(
    server: Server, probe: Probe, database: str, pool: dict[str, Any]
) -> Iterator[Site]:
    """Migrate ``database`` and serve the site on it under uvicorn until resumed."""
    probe.ensure_database(database)
    entry = server.settings(name=database)
    entry["OPTIONS"]["pool"] = pool
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.asgi_site.settings",
        MULTIPOOL_ASGI_DATABASE=json.dumps(entry),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="multipool-asgi-", suffix=".log") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.asgi_site.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--no-access-log",
                # uvicorn closes a keep-alive connection idle for 5 s; a client
                # reusing it in the same instant gets "Server disconnected
                # without sending a response" (encode/httpx#2487), a failure of
                # HTTP, not of the pool. No test here idles a connection 120 s.
                "--timeout-keep-alive",
                "120",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        site = Site(f"http://127.0.0.1:{port}", process, log)
        try:
            wait_until_serving(site)
            yield site
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_serving(site: Site, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if site.process.poll() is not None:
            pytest.fail(f"uvicorn exited at start:\n{site.output()}")
        try:
            # /stats/ touches no database: the pool opens at the first real request.
            httpx.get(f"{site.url}/stats/", timeout=1, trust_env=False).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail(f"uvicorn did not answer within {within} s:\n{site.output()}")


class SessionSampler(threading.Thread):
    """Count the server's sessions on ``database``, from outside, until stopped."""

    def __init__(self, probe: Probe, database: str = DATABASE) -> None:
        super().__init__(daemon=True)
        self.probe = probe
        self.database = database
        self.samples: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append(self.probe.count_connections(self.database))
            self.stopping.wait(0.01)

    def stop(self) -> list[int]:
        self.stopping.set()
        self.join(30)
        return self.samples


async def burst(url: str) -> list[tuple[str, int | str]]:
    """WAVES waves of CONCURRENCY simultaneous requests, half sync, half async."""
    limits = httpx.Limits(max_connections=CONCURRENCY)
    results: list[tuple[str, int | str]] = []

    async def one(client: httpx.AsyncClient, path: str) -> None:
        try:
            results.append((path, (await client.get(path)).status_code))
        except httpx.HTTPError as exc:
            results.append((path, repr(exc)))

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60, trust_env=False) as c:
        for _ in range(WAVES):
            async with asyncio.TaskGroup() as group:
                for i in range(CONCURRENCY):
                    group.create_task(one(c, PATHS[i % len(PATHS)]))
    return results


def settled_stats(site: Site, within: float = 10.0) -> dict[str, Any]:
    # Django gives the connection back in response.close(), after the response
    # went out, so the last client can be answered a moment before that.
    deadline = time.monotonic() + within
    stats = site.stats()
    while stats["pool_available"] != stats["pool_size"] and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = site.stats()
    return stats


def test_burst_of_sync_and_async_requests_stays_within_max_size_and_returns_everything(
    site: Site, probe: Probe
) -> None:
    sampler = SessionSampler(probe)
    sampler.start()
    try:
        results = asyncio.run(burst(site.url))
    finally:
        samples = sampler.stop()

    failures = [r for r in results if r[1] != 200]
    assert len(results) == WAVES * CONCURRENCY
    assert not failures, f"{len(failures)} requests failed, e.g. {failures[:5]}\n{site.output()}"

    # Enough looks from outside to have caught a pool growing past its cap.
    assert len(samples) >= 5, samples
    assert max(samples) <= MAX_SIZE, f"server saw {max(samples)} sessions: {samples}"

    stats = settled_stats(site)
    # The burst really outran the pool, so the cap was exercised, not merely unreached.
    assert stats["requests_queued"] > 0, stats
    assert stats["pool_size"] <= MAX_SIZE, stats
    assert stats["requests_num"] >= WAVES * CONCURRENCY, stats
    assert stats["requests_errors"] == 0, stats
    assert stats["pool_available"] == stats["pool_size"], f"connections not returned: {stats}"
    # And no session on the server lives outside the pool.
    assert probe.count_connections(DATABASE) == stats["pool_size"]
