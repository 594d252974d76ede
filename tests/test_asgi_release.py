"""Under uvicorn, release="transaction" holds no connection while an async view sleeps.

50 concurrent requests to a view that queries, awaits ``asyncio.sleep(0.5)``
(standing in for an HTTP call; long enough that the site's CPU time, ~10 ms
a request, does not decide the outcome) and queries again, served from a
pool of max_size=5. With release="request" each request keeps its connection
through the sleep, so the burst cannot finish in less than 50 x 0.5 s / 5 =
5 s (the control). With
release="transaction" the connections go back during the sleep: the burst
ends far sooner, and the server never sees more than max_size sessions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from .probes import Probe
from .servers import Server
from .test_asgi import SessionSampler, Site, settled_stats, start_site

pytestmark = [pytest.mark.vendor, pytest.mark.slow]

DATABASE = "multipool_asgi_release"
#: tests/asgi_site/views.py's SLEEP_SECONDS (not imported: the site's models
#: cannot load under the test run's settings).
SLEEP_SECONDS = 0.5
MAX_SIZE = 5
REQUESTS = 50
#: The burst's lower bound when each request holds a connection through its sleep.
HELD_FLOOR = REQUESTS * SLEEP_SECONDS / MAX_SIZE


@pytest.fixture(params=["transaction", "request"])
def release_site(request: pytest.FixtureRequest, server: Server, probe: Probe) -> Iterator[Site]:
    pool = {"min_size": 1, "max_size": MAX_SIZE, "timeout": 10, "release": request.param}
    yield from start_site(server, probe, DATABASE, pool)


async def sleeping_burst(url: str) -> tuple[list[int | str], float]:
    results: list[int | str] = []

    async def one(client: httpx.AsyncClient) -> None:
        try:
            results.append((await client.get("/sleep/")).status_code)
        except httpx.HTTPError as exc:
            results.append(repr(exc))

    limits = httpx.Limits(max_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60, trust_env=False) as c:
        await c.get("/sleep/")  # warm up: the pool and the site's imports
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(REQUESTS):
                group.create_task(one(c))
        return results, time.perf_counter() - started


def test_an_async_view_does_not_hold_its_connection_while_it_sleeps(
    release_site: Site, probe: Probe, request: pytest.FixtureRequest
) -> None:
    mode = request.node.callspec.params["release_site"]
    sampler = SessionSampler(probe, DATABASE)
    sampler.start()
    try:
        results, elapsed = asyncio.run(sleeping_burst(release_site.url))
    finally:
        samples = sampler.stop()
    failures = [r for r in results if r != 200]
    assert not failures, f"{failures[:5]}\n{release_site.output()}"
    peak = max(samples)
    throughput = REQUESTS / elapsed
    print(
        f"\nrelease={mode}: {REQUESTS} requests sleeping {SLEEP_SECONDS}s in {elapsed:.2f}s "
        f"({throughput:.0f} req/s), peak {peak} server sessions, max_size {MAX_SIZE}"
    )
    assert peak <= MAX_SIZE, samples
    if mode == "request":
        assert elapsed >= HELD_FLOOR * 0.95  # the control: connections held through the sleep
    else:
        # At least 2x what holding connections allows (MAX_SIZE / SLEEP_SECONDS req/s).
        assert elapsed < HELD_FLOOR / 2, f"{elapsed:.2f}s"
    stats = settled_stats(release_site)
    assert stats["pool_available"] == stats["pool_size"], stats
