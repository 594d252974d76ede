"""``pinned()``: hold one connection across statements in release="transaction".

With ``OPTIONS["pool"]["release"] = "transaction"`` a wrapper gives its
connection back between statements, so session state (``SET``, temporary
tables, advisory locks, ...) does not survive from one statement to the next.
Inside ``pinned()`` it does: the wrapper keeps the connection it takes until
the outermost block exits. With release="request", or on another ENGINE,
``pinned()`` changes nothing: the connection is held anyway.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections

__all__ = ["pinned"]


class pinned:  # lower case: used like a function, as transaction.atomic
    """Hold the connection of ``using`` from the first statement to the end of the block.

    Nestable, and reusable as a decorator-free context manager from sync code
    (``with pinned():``) and async code (``async with pinned():``). The async
    form pins the wrapper of the thread where Django's async ORM runs its
    queries (``sync_to_async(thread_sensitive=True)``), so that ``aget()``,
    ``acreate()`` and async iteration inside the block share the connection.
    """

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        # One wrapper per nesting level of this object (it may be re-entered).
        self._wrappers: list[Any] = []

    def __enter__(self) -> Any:
        wrapper = connections[self.using]
        pin = getattr(wrapper, "_pin", None)
        if pin is not None:  # another ENGINE: nothing to pin, nothing to do
            pin()
        self._wrappers.append(wrapper)
        return wrapper

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        wrapper = self._wrappers.pop()
        unpin = getattr(wrapper, "_unpin", None)
        if unpin is not None:
            unpin()

    async def __aenter__(self) -> Any:
        return await sync_to_async(self.__enter__, thread_sensitive=True)()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await sync_to_async(self.__exit__, thread_sensitive=True)(exc_type, exc, traceback)
