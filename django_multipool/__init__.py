"""One connection-pooling layer for every Django database.

Pick an ENGINE per alias (``django_multipool.backends.postgresql``, ...) and
write one ``OPTIONS["pool"]`` dict whose keys mean the same on every vendor.
"""

from .adapter import PoolAdapter, PoolStats
from .config import PoolConfig
from .errors import (
    ConnectRefused,
    PoolClosed,
    PoolConfigError,
    PoolError,
    PoolTimeout,
    SessionStateError,
    TooManyRequests,
)
from .pinning import pinned

__all__ = [
    "ConnectRefused",
    "PoolAdapter",
    "PoolClosed",
    "PoolConfig",
    "PoolConfigError",
    "PoolError",
    "PoolStats",
    "PoolTimeout",
    "SessionStateError",
    "TooManyRequests",
    "pinned",
    "pool_stats",
]


def pool_stats() -> dict[str, PoolStats]:
    """Stats of every pool open in this process, by database alias."""
    from .backends.registry import registry

    return {alias: adapter.stats() for alias, adapter in registry.items()}
