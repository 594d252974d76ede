"""Threads that keep making requests, and the record of every request's outcome.

The reliability tests put a pool under load, break something (restart the
server, kill sessions, stall the network) and then judge the outcomes: which
requests failed, with what, when, and whether every thread came back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from django_multipool.backends.registry import registry

from ..servers import Server
from .private_servers import PrivateServer
from .proxy import FaultyProxy


@dataclass(frozen=True)
class Outcome:
    thread: int
    started: float
    ended: float
    error: BaseException | None

    @property
    def took(self) -> float:
        return self.ended - self.started


@dataclass
class Load:
    """``threads`` threads, each calling ``request`` in a loop until :meth:`stop`."""

    request: Callable[[], None]
    threads: int
    #: Pause between two requests of one thread.
    pause: float = 0.005
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), name=f"load-{n}")
            worker.daemon = True  # a hung one must not keep pytest alive
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self, limit: float) -> list[str]:
        """Stop and join every thread; return the names of those still running after ``limit``."""
        self._stop.set()
        deadline = time.monotonic() + limit
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return [w.name for w in self._workers if w.is_alive()]

    def _run(self, n: int) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            error: BaseException | None = None
            try:
                self.request()
            except Exception as exc:
                error = exc
            with self._lock:
                self.outcomes.append(Outcome(n, started, time.monotonic(), error))
            time.sleep(self.pause)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def wait_for(self, requests: int, limit: float = 30.0) -> None:
        """Block until ``requests`` more requests have completed (any outcome)."""
        target = len(self.snapshot()) + requests
        deadline = time.monotonic() + limit
        while len(self.snapshot()) < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"the load made fewer than {requests} requests in {limit} s")
            time.sleep(0.01)

    def failures(self, started_after: float = float("-inf")) -> list[Outcome]:
        return [o for o in self.snapshot() if o.error is not None and o.started >= started_after]

    def successes(self, started_after: float = float("-inf")) -> list[Outcome]:
        return [o for o in self.snapshot() if o.error is None and o.started >= started_after]


def run(conn: Any, sql: str, params: Any = None) -> list[Any]:
    """Run SQL on a driver connection; return its rows."""
    cur = conn.cursor()
    try:
        cur.execute(sql, params) if params is not None else cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


def wait_until(predicate: Callable[[], bool], limit: float = 15.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def settings_for(server: Any, **overrides: Any) -> dict[str, Any]:
    """A DATABASES entry for ``server`` (tests/servers.py), the test database."""
    return dict(server.settings(), **overrides)


@contextmanager
def django_alias(entry: dict[str, Any], alias: str, **pool: Any) -> Iterator[str]:
    """Register ``alias`` in django.db.connections for the block (the ORM's way in).

    Each thread gets its own wrapper, as in a Django server; each closes it.
    """
    entry = dict(entry, OPTIONS=dict(entry["OPTIONS"], pool=pool or True))
    connections.settings[alias] = entry
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
        registry.close(alias)


def through(proxy: FaultyProxy, server: Server) -> dict[str, Any]:
    """DATABASES overrides that send ``server``'s connections through ``proxy``."""
    if server.vendor.name == "oracle":
        return {"NAME": f"{proxy.host}:{proxy.port}/{server.database}"}
    return {"HOST": proxy.host, "PORT": proxy.port}


def private_settings(private: PrivateServer) -> dict[str, Any]:
    assert private.server is not None
    return private.server.settings()
