"""``pinned()``'s bookkeeping, with stand-in wrappers: which wrapper each exit unpins.

Django gives each thread its own DatabaseWrapper per alias; the stand-in
below does the same and only counts pins. What pinning does to a real
session (the connection held, session state kept) is in
tests/contract/test_release_transaction.py, on every vendor with a server.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async

from django_multipool import pinning
from django_multipool.pinning import pinned


class Wrapper:
    """What pinned() uses of a DatabaseWrapper: _pin() and _unpin()."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.thread = threading.get_ident()
        self.pins = 0
        self.foreign_calls = 0  # pins or unpins from a thread that does not own it

    def _check_thread(self) -> None:
        if threading.get_ident() != self.thread:
            self.foreign_calls += 1

    def _pin(self) -> None:
        self._check_thread()
        self.pins += 1

    def _unpin(self) -> None:
        self._check_thread()
        assert self.pins > 0, "unpinned more often than pinned"
        self.pins -= 1


class Connections:
    """django.db.connections as pinned() sees it: one wrapper per thread and alias."""

    def __init__(self) -> None:
        self._local = threading.local()
        self.made: list[Wrapper] = []
        self._lock = threading.Lock()

    def __getitem__(self, alias: str) -> Wrapper:
        wrappers = self._local.__dict__.setdefault("wrappers", {})
        if alias not in wrappers:
            wrappers[alias] = Wrapper(alias)
            with self._lock:
                self.made.append(wrappers[alias])
        return wrappers[alias]  # type: ignore[no-any-return]


@pytest.fixture
def wrappers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connections]:
    stand_in = Connections()
    monkeypatch.setattr(pinning, "connections", stand_in)
    yield stand_in
    for wrapper in stand_in.made:
        assert wrapper.pins == 0, f"{wrapper.alias} left pinned"
        assert wrapper.foreign_calls == 0, f"{wrapper.alias} touched from another thread"


def test_nested_blocks_of_one_object_pin_twice_and_unpin_twice(wrappers: Connections) -> None:
    pin = pinned("default")
    with pin as outer:
        with pin as inner:
            assert inner is outer
            assert outer.pins == 2
        assert outer.pins == 1
    assert outer.pins == 0


def test_blocks_of_two_objects_interleave_by_alias(wrappers: Connections) -> None:
    with pinned("default") as default, pinned("other") as other:
        assert (default.pins, other.pins) == (1, 1)
    assert (default.pins, other.pins) == (0, 0)


def test_threads_sharing_one_object_each_unpin_their_own(wrappers: Connections) -> None:
    pin = pinned("default")
    entered = threading.Barrier(4, timeout=5)
    seen: list[int] = []

    def use() -> None:
        with pin as wrapper:
            entered.wait()
            seen.append(wrapper.pins)
            entered.wait()  # all inside until all have looked
        seen.append(wrapper.pins)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(seen) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert len(wrappers.made) == 4


def test_tasks_sharing_one_object_each_unpin_their_own(wrappers: Connections) -> None:
    # Each task as an ASGI request: its own sync thread, hence its own wrapper.
    pin = pinned("default")

    async def request(entered: asyncio.Barrier) -> tuple[int, int]:
        async with ThreadSensitiveContext():
            async with pin as wrapper:
                await entered.wait()
                inside = wrapper.pins
                await entered.wait()
            return inside, wrapper.pins

    async def main() -> list[tuple[int, int]]:
        entered = asyncio.Barrier(3)
        return list(await asyncio.gather(*(request(entered) for _ in range(3))))

    assert asyncio.run(main()) == [(1, 0)] * 3
    assert len({id(w) for w in wrappers.made}) == 3


def test_sync_blocks_inside_an_async_block_of_the_same_object(wrappers: Connections) -> None:
    pin = pinned("default")

    def sync_part() -> int:
        with pin as wrapper:
            return wrapper.pins

    async def main() -> tuple[int, int]:
        async with pin as wrapper:
            inside = await sync_to_async(sync_part, thread_sensitive=True)()
            after_sync = wrapper.pins
        return inside, after_sync

    assert asyncio.run(main()) == (2, 1)


def test_a_cancelled_async_enter_leaves_nothing_pinned(wrappers: Connections) -> None:
    pin = pinned("default")
    busy, go = threading.Event(), threading.Event()

    def occupy_the_thread() -> None:
        busy.set()
        go.wait(5)

    async def main() -> None:
        blocker = asyncio.ensure_future(sync_to_async(occupy_the_thread, thread_sensitive=True)())
        await asyncio.to_thread(busy.wait, 5)

        async def enter() -> None:
            async with pin:
                pass

        task = asyncio.ensure_future(enter())
        await asyncio.sleep(0.05)  # its pin is queued behind occupy_the_thread
        task.cancel()
        go.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        await blocker

    asyncio.run(main())


def test_an_exit_without_its_enter_is_refused(wrappers: Connections) -> None:
    pin = pinned("default")
    with pytest.raises(RuntimeError, match="did not enter it"):
        pin.__exit__(None, None, None)
    entered = pin.__enter__()
    failures: list[BaseException] = []

    def exit_elsewhere() -> None:
        try:
            pin.__exit__(None, None, None)
        except RuntimeError as exc:
            failures.append(exc)

    thread = threading.Thread(target=exit_elsewhere)
    thread.start()
    thread.join(5)
    assert len(failures) == 1
    pin.__exit__(None, None, None)
    assert entered.pins == 0


# -- as a decorator -------------------------------------------------------------------


def test_decorates_a_function_with_or_without_parentheses(wrappers: Connections) -> None:
    @pinned
    def bare() -> Any:
        return pinning.connections["default"].pins

    @pinned()
    def called() -> Any:
        return pinning.connections["default"].pins

    @pinned("other")
    def other(x: int, *, y: int) -> Any:
        return x, y, pinning.connections["other"].pins

    assert (bare(), called(), other(1, y=2)) == (1, 1, (1, 2, 1))
    assert bare.__name__ == "bare" and other.__name__ == "other"

    # The pin ends with the call, also when it raises.
    @pinned
    def failing() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        failing()
    assert pinning.connections["default"].pins == 0


def test_decorates_a_coroutine_function(wrappers: Connections) -> None:
    @pinned("other")
    async def view(x: int) -> tuple[int, int]:
        pins = await sync_to_async(lambda: pinning.connections["other"].pins)()
        return x, pins

    @pinned
    async def bare() -> int:
        return await sync_to_async(lambda: pinning.connections["default"].pins)()

    async def main() -> Any:
        return await view(3), await bare(), await asyncio.gather(view(1), view(2))

    assert asyncio.run(main()) == ((3, 1), 1, [(1, 2), (2, 2)])
    assert inspect.iscoroutinefunction(view) and view.__name__ == "view"


def test_a_generator_function_is_refused() -> None:
    def rows() -> Iterator[int]:
        yield 1

    async def arows() -> Any:
        yield 1

    for function in (rows, arows):
        with pytest.raises(TypeError, match="generator function"):
            pinned()(function)


def test_an_alias_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(TypeError, match="database alias"):
        pinned(42)
