"""The pools of *this process*, as ``manage.py pool_status`` shows them.

Pools live in the process that opened them: a ``manage.py`` command sees its
own, never a server's. :func:`process_status` only reads (it opens nothing),
so a server may serve it from a view of its own, behind its own access
control; docs/monitoring.md has the view. It holds no secret: no password,
host, user or connect string, only aliases, vendors, pool names and numbers.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connections

from .adapter import PoolStats
from .backends.registry import registry

__all__ = [
    "ENGINE_PREFIX",
    "PoolStatus",
    "is_pooled",
    "not_pooled",
    "pool_statuses",
    "process_status",
]

ENGINE_PREFIX = "django_multipool.backends."


@dataclasses.dataclass(slots=True)
class PoolStatus:
    """One alias's pool in this process."""

    alias: str
    vendor: str
    #: The pool's name (OPTIONS["pool"]["name"], else the alias).
    name: str
    #: "open", or "not open" (configured, but not opened in this process).
    state: str
    stats: PoolStats | None = None
    #: Connections lent out now. Not ``stats.in_use`` (size - available),
    #: which also counts connections still being opened.
    in_use: int | None = None
    #: Why the pool could not be opened or used; already free of secrets.
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "vendor": self.vendor,
            "name": self.name,
            "state": self.state,
            "in_use": self.in_use,
            "stats": None if self.stats is None else self.stats.as_dict(),
            "error": self.error,
        }


def is_pooled(entry: Mapping[str, Any]) -> bool:
    """Whether a DATABASES entry asks for a django-multipool pool."""
    options = entry.get("OPTIONS") or {}
    return str(entry.get("ENGINE") or "").startswith(ENGINE_PREFIX) and (
        not isinstance(options, Mapping) or options.get("pool") is not False
    )


def pool_statuses(aliases: Iterable[str] | None = None) -> list[PoolStatus]:
    """The pooled aliases of DATABASES and every pool open in this process.

    Pools open for an alias that DATABASES does not name (built by hand, or
    in tests) are listed too, after the configured ones.
    """
    wanted = None if aliases is None else set(aliases)
    open_pools = dict(registry.items())
    statuses = []
    for alias, entry in connections.settings.items():
        if (wanted is None or alias in wanted) and is_pooled(entry):
            statuses.append(_status(alias, entry, open_pools.pop(alias, None)))
    for alias, adapter in open_pools.items():
        if wanted is None or alias in wanted:
            statuses.append(_status(alias, {}, adapter))
    return statuses


def not_pooled(aliases: Iterable[str] | None = None) -> list[dict[str, str]]:
    """Aliases of DATABASES that no django-multipool pool serves, with their ENGINE."""
    wanted = None if aliases is None else set(aliases)
    return [
        {"alias": alias, "engine": str(entry.get("ENGINE"))}
        for alias, entry in connections.settings.items()
        if (wanted is None or alias in wanted) and not is_pooled(entry)
    ]


def process_status(
    aliases: Iterable[str] | None = None, *, statuses: list[PoolStatus] | None = None
) -> dict[str, Any]:
    """JSON-ready: ``{"pid": ..., "pools": [...], "not_pooled": [...]}``."""
    wanted = None if aliases is None else set(aliases)
    if statuses is None:
        statuses = pool_statuses(wanted)
    return {
        "pid": os.getpid(),
        "pools": [status.as_dict() for status in statuses],
        "not_pooled": not_pooled(wanted),
    }


def _status(alias: str, entry: Mapping[str, Any], adapter: Any) -> PoolStatus:
    if adapter is not None:
        return PoolStatus(
            alias,
            adapter.vendor,
            adapter.name,
            "closed" if adapter.closed else "open",
            adapter.stats(),
            adapter.checked_out,
        )
    options = entry.get("OPTIONS") or {}
    pool = options.get("pool") if isinstance(options, Mapping) else None
    name = pool.get("name") if isinstance(pool, Mapping) else None
    return PoolStatus(
        alias,
        str(entry.get("ENGINE", "")).removeprefix(ENGINE_PREFIX),
        name if isinstance(name, str) and name else alias,
        "not open",
    )
