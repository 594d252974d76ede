"""A bounded async load generator: N clients, each sending one request at a time.

Bounded in time (no request starts after ``duration``), in count
(``max_requests``) and in place (loopback addresses only).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx


@dataclass
class LoadResult:
    clients: int
    elapsed: float = 0.0
    #: Latency in seconds of every request that got an HTTP response, by path.
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: HTTP statuses seen, by status code.
    statuses: Counter[int] = field(default_factory=Counter)
    #: Requests that got no HTTP response at all, by exception class.
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def responses(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def not_ok(self) -> int:
        return self.responses - self.ok

    def all_latencies(self) -> list[float]:
        return sorted(itertools.chain.from_iterable(self.latencies.values()))


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the load generator only targets this machine, not {host!r}")


async def run_load(
    base_url: str,
    paths: list[str],
    *,
    clients: int,
    duration: float,
    max_requests: int,
    request_timeout: float = 60.0,
) -> LoadResult:
    """Run ``clients`` concurrent clients for ``duration`` seconds; each cycles ``paths``."""
    require_loopback(base_url)
    result = LoadResult(clients=clients, latencies={p: [] for p in paths})
    budget = itertools.count()
    started = time.monotonic()
    deadline = started + duration

    async def client(number: int, http: httpx.AsyncClient) -> None:
        # Each client starts at a different path so every path is busy at once.
        for path in itertools.islice(itertools.cycle(paths), number % len(paths), None):
            if time.monotonic() >= deadline or next(budget) >= max_requests:
                return
            sent = time.monotonic()
            try:
                response = await http.get(path)
            except httpx.HTTPError as exc:
                result.errors[type(exc).__name__] += 1
                continue
            result.latencies[path].append(time.monotonic() - sent)
            result.statuses[response.status_code] += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with (
        httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=request_timeout, trust_env=False
        ) as http,
        asyncio.TaskGroup() as group,
    ):
        for number in range(clients):
            group.create_task(client(number, http))
    result.elapsed = time.monotonic() - started
    return result
