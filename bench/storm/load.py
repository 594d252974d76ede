"""A lighter load generator than demo.load.run_load, with the same bounds and results.

demo.load drives one shared ``httpx.AsyncClient``; at 100-200 concurrent
clients on this bench's two cores it spent ~10 ms of CPU per request (its
connection pool scans every waiting request per request) and capped every
configuration at ~80 requests/s, a no-database view included. Here each
client owns one keep-alive HTTP/1.1 connection on plain asyncio streams, so
the client costs far less than the server it measures. Results are
demo.load's ``LoadResult``, bounds the same: loopback only, no request starts
after ``duration``, at most ``max_requests`` in all.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from urllib.parse import urlsplit

from demo.load import LoadResult, require_loopback


class _Closed(Exception):
    """The server closed the connection mid-response."""


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; return its status (body read and dropped)."""
    status_line = await reader.readline()
    if not status_line:
        raise _Closed("connection closed")
    status = int(status_line.split(b" ", 2)[1])
    length, chunked = None, False
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while size := int((await reader.readline()).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readline()  # the CRLF after the last chunk (no trailers here)
    elif length:
        await reader.readexactly(length)
    return status


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
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = LoadResult(clients=clients, latencies={p: [] for p in paths})
    budget = itertools.count()
    started = time.monotonic()
    deadline = started + duration
    requests = {p: f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode() for p in paths}

    async def client(number: int) -> None:
        reader = writer = None
        try:
            for path in itertools.islice(itertools.cycle(paths), number % len(paths), None):
                if time.monotonic() >= deadline or next(budget) >= max_requests:
                    return
                sent = time.monotonic()
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    assert reader is not None
                    writer.write(requests[path])
                    status = await asyncio.wait_for(_read_response(reader), request_timeout)
                except (OSError, _Closed, TimeoutError, asyncio.IncompleteReadError) as exc:
                    result.errors[type(exc).__name__.lstrip("_")] += 1
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    continue
                result.latencies[path].append(time.monotonic() - sent)
                result.statuses[status] += 1
        finally:
            if writer is not None:
                writer.close()

    async with asyncio.TaskGroup() as group:
        for number in range(clients):
            group.create_task(client(number))
    result.elapsed = time.monotonic() - started
    return result
