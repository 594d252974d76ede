"""``pinned()``: hold one connection across statements in release="transaction".

With ``OPTIONS["pool"]["release"] = "transaction"`` a wrapper gives its
connection back between statements, so session state (``SET``, temporary
tables, advisory locks, ...) does not survive from one statement to the next.
Inside ``pinned()`` it does: the wrapper keeps the connection it takes until
the outermost block exits. With release="request", or on another ENGINE,
``pinned()`` changes nothing: the connection is held anyway.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections

__all__ = ["pinned"]

F = TypeVar("F", bound=Callable[..., Any])

# The blocks entered and not exited yet, innermost last, each as (the
# pinned object, the wrapper it pinned). One variable for every pinned
# object (a ContextVar per object would live as long as the contexts that
# saw it), holding tuples: a value is never changed in place, so a context
# copied from another (a new asyncio task, sync_to_async's thread, a thread
# that inherits its creator's context on Python 3.14) starts from the same
# entries and then keeps its own. Each thread and each asyncio task therefore
# has its own stack, and an exit pops what the same thread or task pushed.
_entered: ContextVar[tuple[tuple[pinned, Any], ...]] = ContextVar(
    "django_multipool.pinned", default=()
)


def _pin(using: str) -> Any:
    """Pin this thread's wrapper of ``using``; return it."""
    wrapper = connections[using]
    pin = getattr(wrapper, "_pin", None)
    if pin is not None:  # another ENGINE: nothing to pin, nothing to do
        pin()
    return wrapper


def _unpin(wrapper: Any) -> None:
    unpin = getattr(wrapper, "_unpin", None)
    if unpin is not None:
        unpin()


class pinned:  # lower case: used like a function, as transaction.atomic
    """Hold the connection of ``using`` from the first statement to the end of the block.

    A context manager for sync code (``with pinned():``) and async code
    (``async with pinned():``), and a decorator of sync and async functions
    (``@pinned``, ``@pinned()``, ``@pinned("other")``). Blocks nest. One
    object may be shared (a module-level constant, a decorator) by threads
    and asyncio tasks at once: each thread and each task pins its own
    wrapper, and each exit unpins the wrapper its own enter pinned.

    The async form pins the wrapper of the thread where Django's async ORM
    runs its queries (``sync_to_async(thread_sensitive=True)``), so that
    ``aget()``, ``acreate()`` and async iteration inside the block share the
    connection.
    """

    using: str

    @overload
    def __new__(cls, using: str = ...) -> pinned: ...

    @overload
    def __new__(cls, using: F) -> F: ...  # type: ignore[misc]  # bare @pinned

    # __new__, not __init__: a bare @pinned returns the decorated function,
    # and type checkers read that from __new__'s overloads.
    def __new__(cls, using: Any = DEFAULT_DB_ALIAS) -> Any:
        if callable(using):  # @pinned without parentheses, as @transaction.atomic
            return cls()(using)
        if not isinstance(using, str):
            raise TypeError(
                f"pinned() takes a database alias (a str), not {type(using).__name__}: "
                f"write pinned(), pinned('other'), or @pinned / @pinned('other') on a function."
            )
        self = super().__new__(cls)
        self.using = using
        return self

    def __repr__(self) -> str:
        return f"pinned({self.using!r})"

    # -- sync ------------------------------------------------------------------------

    def __enter__(self) -> Any:
        wrapper = _pin(self.using)
        self._push(wrapper)
        return wrapper

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _unpin(self._pop())

    # -- async -----------------------------------------------------------------------

    async def __aenter__(self) -> Any:
        # The pin happens in the async ORM's thread, the bookkeeping here in
        # the task: the task's context is the one __aexit__ reads.
        pinned_wrapper: list[Any] = []
        try:
            wrapper = await sync_to_async(self._pin_into, thread_sensitive=True)(pinned_wrapper)
        except BaseException:
            # Cancelled while the pin ran (or queued) in the thread: undo it
            # there, after it, if it happened; shielded from a second cancel.
            await asyncio.shield(sync_to_async(_undo, thread_sensitive=True)(pinned_wrapper))
            raise
        self._push(wrapper)
        return wrapper

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        wrapper = self._pop()
        # Shielded: a cancelled task must not leave its wrapper pinned for good.
        await asyncio.shield(sync_to_async(_unpin, thread_sensitive=True)(wrapper))

    def _pin_into(self, pinned_wrapper: list[Any]) -> Any:
        wrapper = _pin(self.using)
        pinned_wrapper.append(wrapper)
        return wrapper

    # -- decorator -------------------------------------------------------------------

    def __call__(self, func: F) -> F:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"@pinned() cannot decorate the generator function {func.__qualname__}: "
                f"its block would end when the generator is created, before it runs. "
                f"Use 'with pinned():' (or 'async with') inside the generator."
            )
        if iscoroutinefunction(func):

            @functools.wraps(func)
            async def pinned_coroutine(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await func(*args, **kwargs)

            return cast(F, pinned_coroutine)

        @functools.wraps(func)
        def pinned_function(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return cast(F, pinned_function)

    # -- the stack of this thread or task ----------------------------------------------

    def _push(self, wrapper: Any) -> None:
        _entered.set((*_entered.get(), (self, wrapper)))

    def _pop(self) -> Any:
        stack = _entered.get()
        # Innermost first: with blocks nest, so this object's last entry is
        # the top unless another pinned object's block is still open inside.
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] is self:
                _entered.set(stack[:index] + stack[index + 1 :])
                return stack[index][1]
        raise RuntimeError(
            f"{self!r} exited in a thread or asyncio task that did not enter it "
            f"(each thread and task pins, and must unpin, its own wrapper)."
        )


def _undo(pinned_wrapper: list[Any]) -> None:
    if pinned_wrapper:
        _unpin(pinned_wrapper[0])
