"""Parking: a connection kept aside between one borrower's statements.

``release="transaction"`` gives a connection back after every statement
outside ``atomic()``. An adapter that can park (:attr:`PoolAdapter.parks
<django_multipool.adapter.PoolAdapter.parks>`) keeps it aside for the same
borrower instead of putting it through its pool's return path: the
borrower's next statement takes it back with a dict lookup, no reset, no
lock, while anybody who finds the pool empty takes it from the lot first.

This is the whole capability: a borrower holds one :class:`ParkingSpot`;
a pool keeps one :class:`ParkingLot`; :class:`~django_multipool.adapter.
PoolAdapter` ``park()``/``retake()`` do the ledger's bookkeeping around
the adapter's ``_park``/``_retake`` hooks. Nothing else knows parking exists:
an adapter that does not park releases instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .adapter import PoolAdapter

__all__ = ["ParkingLot", "ParkingSpot"]

T = TypeVar("T")


class ParkingSpot:
    """Where one borrower's connection waits between two of its statements.

    One spot per borrower (a Django wrapper), reused.
    """

    __slots__ = ("adapter",)

    def __init__(self) -> None:
        #: The adapter the spot last parked a connection with; set by it.
        self.adapter: PoolAdapter | None = None

    def vacate(self) -> None:
        """Give a connection still parked here back to its pool, for good."""
        adapter, self.adapter = self.adapter, None
        if adapter is not None:
            adapter.release_parked(self)


class ParkingLot(dict["ParkingSpot", T]):
    """One pool's parked entries (connections, or its slots for them), by spot.

    A dict, so that a borrower's ``lot.pop(spot, None)`` is one C call and
    needs no lock: whichever pop gets an entry, its borrower or
    :meth:`take_longest`, has it. Entries go in under the owning pool's lock.
    """

    __slots__ = ()

    def take_longest(self) -> T | None:
        """Pop the entry parked longest (dicts keep insertion order); None once empty.

        Called under the owning pool's lock, racing only the borrowers'
        lock-free ``pop(spot)``.
        """
        while self:
            try:
                spot = next(iter(self))
            except (StopIteration, RuntimeError):  # retaken (the dict changed) under us
                continue
            found = self.pop(spot, None)
            if found is not None:
                return found
        return None
