"""The adapter half every driver on the pool core shares.

A driver whose own pool falls short (both MySQL drivers) hands the core
(:class:`django_multipool._pool.Pool`) a :class:`~django_multipool._pool.Driver`
and lets it pool. Everything between the adapter interface and the core is
then the same whatever the driver: this class is it. A subclass builds
``self._driver`` and ``self._pool`` in ``_build()`` and says what only its
driver knows (``holds_transaction``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._pool import Driver, Pool
from ..adapter import PoolAdapter, PoolStats
from ..parking import ParkingSpot

__all__ = ["PoolCoreAdapter"]


class PoolCoreAdapter(PoolAdapter):
    """A :class:`PoolAdapter` over the pool core; subclasses build ``_driver`` and ``_pool``."""

    _driver: Driver[Any]
    _pool: Pool[Any]
    # The core parks (its park() says when it cannot).
    parks = True

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def _open(self, wait: bool) -> None:
        self._pool.open(wait=wait)

    def _close(self, timeout: float) -> None:
        self._pool.close(timeout)

    def _acquire(self, timeout: float) -> Any:
        return self._pool.acquire(timeout)

    def _release(self, conn: Any) -> None:
        self._pool.release(conn)

    def _discard(self, conn: Any) -> None:
        self._pool.discard(conn)

    def _park(self, spot: ParkingSpot, conn: Any, now: float) -> bool:
        return self._pool.park(spot, conn, now)

    def _retake(self, spot: ParkingSpot, now: float) -> Any | None:
        return self._pool.retake(spot, now)

    def release_parked(self, spot: ParkingSpot) -> None:
        self._pool.release_parked(spot)

    @property
    def parked(self) -> int:
        return self._pool.parked

    def _stats(self, usage_ms: int) -> PoolStats:
        return self._pool.stats(usage_ms)

    def _time_connects(self, record: Callable[[float], None]) -> None:
        self._pool.on_connected = record

    def _forget_after_fork(self) -> None:
        self._ledger.forget_after_fork()
        self._pool.forget_after_fork()
