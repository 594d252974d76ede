"""A bounded async load generator: N clients, each sending one request at a time.

Bounded in time (no request starts after ``duration``), in count
(``max_requests``) and in place (loopback addresses only). Each client owns
one keep-alive HTTP/1.1 connection on plain asyncio streams, so the client
costs far less CPU than the server it measures (an ``httpx.AsyncClient``
shared by a few hundred clients spends more per request than the site).

Every request carries a fresh ``?nonce=``; a 2xx answer whose JSON
``nonce`` is not the one sent counts as *wrong*: it came from someone else's
query.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


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
    #: 2xx responses that carried another request's nonce (or none).
    wrong: int = 0

    @property
    def responses(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def not_ok(self) -> int:
        return self.responses - self.ok

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx: error statuses plus no response at all."""
        return self.not_ok + sum(self.errors.values())

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


class _Closed(Exception):
    """The server closed the connection mid-response."""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one response: its status and body."""
    status_line = await reader.readline()
    if not status_line:
        raise _Closed("connection closed")
    status = int(status_line.split(b" ", 2)[1])
    length, chunked, closing = None, False, False
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            closing = True
    body = b""
    if chunked:
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readline()  # the CRLF after the last chunk (no trailers here)
    elif length is not None:
        body = await reader.readexactly(length)
    elif closing:
        body = await reader.read()
    if closing:
        raise _KeepNot(status, body)
    return status, body


class _KeepNot(Exception):
    """A complete response after which the server closes the connection."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _carries(body: bytes, nonce: str) -> bool:
    try:
        return bool(json.loads(body).get("nonce") == nonce)
    except (ValueError, AttributeError):
        return False


async def run_load(
    base_url: str,
    paths: list[str],
    *,
    clients: int,
    duration: float,
    max_requests: int,
    warmup: float = 0.0,
    request_timeout: float = 60.0,
    check_answers: bool = True,
) -> LoadResult:
    """Run ``clients`` concurrent clients for ``warmup + duration`` seconds; each cycles ``paths``.

    Requests sent during the first ``warmup`` seconds are not counted. With
    ``check_answers`` each request carries a nonce that a 2xx response must
    echo (else it counts as ``wrong``); without, requests are plain GETs (the
    storm's views echo nothing).
    """
    require_loopback(base_url)
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = LoadResult(clients=clients, latencies={p: [] for p in paths})
    budget = itertools.count()
    measured_from = time.monotonic() + warmup
    deadline = measured_from + duration

    async def client(number: int) -> None:
        reader = writer = None
        try:
            # Each client starts at a different path so every path is busy at once.
            for path in itertools.islice(itertools.cycle(paths), number % len(paths), None):
                sent = time.monotonic()
                if sent >= deadline or next(budget) >= max_requests:
                    return
                counted = sent >= measured_from
                nonce = secrets.token_hex(8) if check_answers else ""
                target = f"{path}?nonce={nonce}" if check_answers else path
                request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    assert reader is not None
                    writer.write(request.encode())
                    try:
                        status, body = await asyncio.wait_for(
                            _read_response(reader), request_timeout
                        )
                    except _KeepNot as last:
                        status, body = last.status, last.body
                        writer.close()
                        reader = writer = None
                except (OSError, _Closed, TimeoutError, asyncio.IncompleteReadError) as exc:
                    if counted:
                        result.errors[type(exc).__name__.lstrip("_")] += 1
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    continue
                if not counted:
                    continue
                result.latencies[path].append(time.monotonic() - sent)
                result.statuses[status] += 1
                if check_answers and 200 <= status < 300 and not _carries(body, nonce):
                    result.wrong += 1
        finally:
            if writer is not None:
                writer.close()

    async with asyncio.TaskGroup() as group:
        for number in range(clients):
            group.create_task(client(number))
    result.elapsed = time.monotonic() - measured_from
    return result
