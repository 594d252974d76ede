"""One configuration under one load: start its server, drive it, count what the server saw.

Two scenarios per configuration:

- ``asgi``: ``uvicorn`` (one worker) under ``clients`` concurrent clients
  alternating the sync view and the async view that awaits between queries;
- ``fork``: ``gunicorn --preload`` with a query at import (``demo/wsgi.py``),
  so every worker inherits what the master opened, under a few clients.

Each configuration gets fresh server processes, so one's leftover sessions
never count against the next.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from demo import database
from demo.configs import Config
from demo.env import DemoEnv
from demo.load import LoadResult, run_load
from demo.server import GunicornServer, UvicornServer, child_env

ASGI_PATHS = ["/sync/", "/async/"]
FORK_PATHS = ["/sync/"]
#: Pool wait in the fork scenario: a worker that cannot get a connection
#: should fail fast, not stall the demo for the ASGI scenario's 20 s.
FORK_POOL_TIMEOUT = 3.0
FORK_REQUEST_TIMEOUT = 3.0
#: uvicorn as ``pip install uvicorn[standard]`` (its production install) runs
#: it: uvloop and httptools, where installed.
_STACK = (
    ("--loop", "uvloop", "--http", "httptools")
    if all(importlib.util.find_spec(m) for m in ("uvloop", "httptools"))
    else ()
)


@dataclass
class Measured:
    config: Config
    scenario: str
    load: LoadResult
    #: Server sessions on the demo database, sampled every 50 ms.
    samples: list[int] = field(default_factory=list)
    #: Sessions once the load stopped and every pool of ours was at rest.
    sessions_after: int = 0
    #: ``/stats/`` at rest (ours only), and whether every connection was back.
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    at_rest: bool = True
    #: What the server logged, by exception.
    exceptions: Counter[str] = field(default_factory=Counter)
    rows_written: int = 0

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    @property
    def requests_per_second(self) -> float:
        """Correct answers per second: 2xx carrying their own request's nonce."""
        correct = self.load.ok - self.load.wrong
        return correct / self.load.elapsed if self.load.elapsed else 0.0


def wait_for_pools_at_rest(
    url: str, within: float = 10.0
) -> tuple[dict[str, dict[str, int]], bool]:
    """Poll /stats/ until every pool of ours has all its connections back.

    Django returns a request's connection in ``response.close()``, after the
    response was sent, so a client can see the last reply a moment before the
    pool does. Django's own configurations have no stats: a short pause.
    """
    deadline = time.monotonic() + within
    while True:
        stats = httpx.get(f"{url}/stats/", timeout=5, trust_env=False).json()
        at_rest = all(s["pool_available"] == s["pool_size"] for s in stats.values())
        if at_rest or time.monotonic() > deadline:
            if not stats:
                time.sleep(0.3)
            return stats, at_rest
        time.sleep(0.05)


def _measure(
    env: DemoEnv,
    config: Config,
    scenario: str,
    server: UvicornServer,
    *,
    paths: list[str],
    clients: int,
    duration: float,
    warmup: float,
    max_requests: int,
    request_timeout: float,
) -> Measured:
    database.empty_hits(env)
    sampler = database.ConnectionSampler(env)
    with server:
        sampler.start()
        try:
            load = asyncio.run(
                run_load(
                    server.url,
                    paths,
                    clients=clients,
                    duration=duration,
                    warmup=warmup,
                    max_requests=max_requests,
                    request_timeout=request_timeout,
                )
            )
            stats, at_rest = wait_for_pools_at_rest(server.url)
        finally:
            sampler.stop()
        with database.admin_connection(env) as conn:
            after = database.server_connections(conn, env.database)
        exceptions = server.exceptions()
    return Measured(
        config=config,
        scenario=scenario,
        load=load,
        samples=sampler.samples,
        sessions_after=after,
        stats=stats,
        at_rest=at_rest,
        exceptions=exceptions,
        rows_written=database.count_hits(env),
    )


def run_asgi(
    env: DemoEnv,
    config: Config,
    *,
    clients: int,
    duration: float,
    warmup: float,
    max_requests: int,
) -> Measured:
    server = UvicornServer(env=child_env(**env.for_site(config.key)), server_args=_STACK)
    return _measure(
        env,
        config,
        "asgi",
        server,
        paths=ASGI_PATHS,
        clients=clients,
        duration=duration,
        warmup=warmup,
        max_requests=max_requests,
        request_timeout=60.0,
    )


def run_fork(
    env: DemoEnv, config: Config, *, clients: int, duration: float, workers: int
) -> Measured:
    server = GunicornServer(
        env=child_env(**env.for_site(config.key, pool_timeout=FORK_POOL_TIMEOUT)),
        workers=workers,
    )
    return _measure(
        env,
        config,
        "fork",
        server,
        paths=FORK_PATHS,
        clients=clients,
        duration=duration,
        warmup=0.0,
        max_requests=100_000,
        request_timeout=FORK_REQUEST_TIMEOUT,
    )
