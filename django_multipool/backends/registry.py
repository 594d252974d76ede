"""Process-wide pools: one live pool per database alias, per process.

A pool is looked up by alias *and* by the effective connection settings it
was built from. When the settings change (the test runner renames ``NAME`` to
``test_…``, a time zone override, a parallel test worker switching to its
clone), the old pool is retired and a new one built, so connections never
keep pointing at the database the settings used to name.

After ``fork()`` the child forgets every pool it inherited without touching
their sockets (closing them would log the parent's sessions out) and builds
its own on first use; see :func:`_forget_inherited_pools`.

Log records (logger ``django_multipool``, INFO) and the signals of
:mod:`django_multipool.signals` tell when a pool is opened, retired or
closed; both happen outside the lock and off the lookup's fast path.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import signals
from .._fork import after_fork_in_child
from ..adapter import PoolAdapter

__all__ = ["PoolRegistry", "registry"]

logger = logging.getLogger("django_multipool")


def _snapshot(value: Any) -> Any:
    """Copy dicts, lists and tuples so later in-place edits of settings show as changes."""
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_snapshot(v) for v in value)
    return value


@dataclass(frozen=True, slots=True)
class _Entry:
    #: The settings the pool was built from, compared with == on every lookup.
    #: They include the password: never part of a repr.
    key: tuple[Any, ...] = field(repr=False)
    adapter: PoolAdapter
    database: str


class PoolRegistry:
    """Thread-safe map of alias → live pool, rebuilt after fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        # Objects whose sockets belong to a parent process: kept referenced so
        # that no finaliser ever runs I/O on them in this process.
        self._inherited: list[_Entry] = []
        self._pid = os.getpid()
        # Set in a forked child until it opens its first pool, which logs it:
        # nothing is logged inside the at-fork handler itself.
        self._forked_from: int | None = None
        self._inherited_count = 0

    def get(
        self, alias: str, key: tuple[Any, ...], database: str, build: Callable[[], PoolAdapter]
    ) -> PoolAdapter:
        """Return the open pool for ``alias`` built for ``key``, building it if needed.

        Creation runs under a lock (double-checked), so concurrent first
        requests build exactly one pool. A pool for the same alias built for
        another key is closed: connections it lent out close when released.
        """
        entry = self._entries.get(alias)
        if entry is not None and entry.key == key:
            return entry.adapter
        with self._lock:
            entry = self._entries.get(alias)
            if entry is not None and entry.key == key:
                return entry.adapter
            adapter = build()
            adapter.open()
            self._entries[alias] = _Entry(_snapshot(key), adapter, database)
            forked_from, self._forked_from = self._forked_from, None
        if forked_from is not None:
            logger.info(
                "process %d was forked from process %d: it dropped the %d pool(s) it "
                "inherited without closing them, and opens its own",
                self._pid,
                forked_from,
                self._inherited_count,
            )
        config = adapter.config
        logger.info(
            "opened %r for database %r: min_size=%d, max_size=%d, release=%r",
            adapter,
            alias,
            config.min_size,
            config.max_size,
            config.release,
        )
        signals.pool_opened.send_robust(type(adapter), alias=alias, pool=adapter)
        if entry is not None:
            self._closed(alias, entry.adapter, signals.SETTINGS_CHANGED)
        return adapter

    def current(self, alias: str) -> PoolAdapter | None:
        entry = self._entries.get(alias)
        return entry.adapter if entry is not None else None

    def close(self, alias: str) -> None:
        with self._lock:
            entry = self._entries.pop(alias, None)
        if entry is not None:
            self._closed(alias, entry.adapter, signals.CLOSE_POOL)

    def close_database(self, database: str) -> None:
        """Close every pool connected to ``database`` (before it is dropped or cloned)."""
        with self._lock:
            doomed = [alias for alias, e in self._entries.items() if e.database == database]
            entries = [(alias, self._entries.pop(alias)) for alias in doomed]
        for alias, entry in entries:
            self._closed(alias, entry.adapter, signals.DATABASE_CLOSED)

    def close_all(self) -> None:
        with self._lock:
            entries = list(self._entries.items())
            self._entries.clear()
        for alias, entry in entries:
            self._closed(alias, entry.adapter, signals.CLOSE_ALL)

    def items(self) -> Iterator[tuple[str, PoolAdapter]]:
        for alias, entry in list(self._entries.items()):
            yield alias, entry.adapter

    def _closed(self, alias: str, adapter: PoolAdapter, reason: str) -> None:
        """Close a pool taken out of the map, then say so (outside the lock)."""
        adapter.close()
        logger.info("closed %r of database %r (%s)", adapter, alias, reason.replace("_", " "))
        signals.pool_closed.send_robust(type(adapter), alias=alias, pool=adapter, reason=reason)

    def _forget_inherited_pools(self) -> None:
        # Runs in the child right after fork(), single-threaded: the parent's
        # lock may have been held by another thread at fork time, so replace it.
        self._lock = threading.Lock()
        for entry in self._entries.values():
            entry.adapter._forget_after_fork()
        self._inherited.extend(self._entries.values())
        if self._entries:
            self._forked_from, self._inherited_count = self._pid, len(self._entries)
        self._entries = {}
        self._pid = os.getpid()


registry = PoolRegistry()

#: Every DatabaseWrapper of our backends, so that a forked child can drop the
#: connections its wrappers hold from the parent (see backends/mixins.py).
wrappers: weakref.WeakSet[Any] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    registry._forget_inherited_pools()
    for wrapper in list(wrappers):
        wrapper._forget_inherited_connection()


after_fork_in_child("pools", _after_fork_in_child)
