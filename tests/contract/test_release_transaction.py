"""``OPTIONS["pool"]["release"] = "transaction"`` on every vendor, against real servers.

Most tests use a pool of ``max_size=1`` and a second wrapper on the same pool
(same alias, same settings): the second one can run a statement only if the
first gave the only connection back. ``test_request_mode_holds_...`` is the
control: the same observation fails with the default mode.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import DatabaseError, close_old_connections, connections, models, transaction
from django.db.backends.signals import connection_created

from django_multipool import PoolTimeout, pinned
from django_multipool.backends.registry import registry

from ..probes import Probe
from ..servers import Server

pytestmark = pytest.mark.vendor

#: Our own database: these tests create a table and count checkouts.
DATABASE = "multipool_release"
RELEASE = {"min_size": 1, "max_size": 1, "timeout": 0.3, "release": "transaction"}

#: A statement that sets session state, and one that reads it back.
SESSION_SET = {
    "postgresql": "SET application_name = 'multipool-pinned'",
    "mysql": "SET @multipool_pinned = 'multipool-pinned'",
}
SESSION_GET = {
    "postgresql": "SHOW application_name",
    "mysql": "SELECT @multipool_pinned",
}


class Ticket(models.Model):
    name = models.CharField(max_length=20)

    class Meta:
        app_label = "django_multipool"
        db_table = "multipool_release_ticket"


@pytest.fixture(autouse=True)
def _only_live_vendors(vendor: str, probe: Probe) -> None:
    if vendor == "oracle":
        pytest.skip("no Oracle server here; the mixin is shared, Oracle runs the same code")
    probe.ensure_database(DATABASE)


@pytest.fixture
def pair(make_wrapper: Any) -> Any:
    """Two wrappers sharing one pool (alias and settings equal) of ``RELEASE`` options."""

    def make(**options: Any) -> tuple[Any, Any]:
        options = {**RELEASE, **options}
        first = make_wrapper(settings={"name": DATABASE}, **options)
        second = make_wrapper(alias=first.alias, settings={"name": DATABASE}, **options)
        return first, second

    return make


def takes_the_connection(other: Any) -> bool:
    """Whether ``other`` can run a statement: with max_size=1, only if nobody holds it."""
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT 1")
    except PoolTimeout:
        return False
    other.close()
    return True


def one(wrapper: Any, sql: str, params: Any = None) -> Any:
    with wrapper.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def run(wrapper: Any, sql: str, params: Any = None) -> None:
    with wrapper.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def table(pair: Any) -> Any:
    first, _ = pair(max_size=2)
    run(first, "CREATE TABLE IF NOT EXISTS multipool_release_rows (n integer)")
    run(first, "DELETE FROM multipool_release_rows")
    first.close()
    return "multipool_release_rows"


def rows(wrapper: Any) -> list[int]:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT n FROM multipool_release_rows ORDER BY n")
        return [n for (n,) in cursor.fetchall()]


# -- between statements -------------------------------------------------------------


def test_request_mode_holds_the_connection_until_close(pair: Any) -> None:
    # The control for every test below: the observation fails without the mode.
    first, second = pair(release="request")
    one(first, "SELECT 1")
    assert first.connection is not None
    assert not takes_the_connection(second)
    first.close()
    assert takes_the_connection(second)


def test_an_autocommit_statement_gives_the_connection_back(pair: Any) -> None:
    first, second = pair()
    assert one(first, "SELECT 1") == 1
    assert first.connection is None
    assert first.pool.checked_out == 0
    assert takes_the_connection(second)
    # The next statement takes one again.
    assert one(first, "SELECT 2") == 2
    assert first.connection is None


def test_a_cursor_holds_the_connection_until_it_is_closed(pair: Any) -> None:
    first, second = pair()
    cursor = first.cursor()
    cursor.execute("SELECT 1")
    assert not takes_the_connection(second)
    cursor.close()
    assert takes_the_connection(second)
    cursor.close()  # twice: counted once


def test_the_same_session_gets_connection_created_once(pair: Any) -> None:
    first, _ = pair()
    seen: list[Any] = []

    def receiver(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection is first:
            seen.append(connection)

    connection_created.connect(receiver)
    try:
        for n in range(5):
            assert one(first, "SELECT %s", [n]) == n
        assert len(seen) == 1
        first.close()  # ends the session
        one(first, "SELECT 1")
        assert len(seen) == 2
    finally:
        connection_created.disconnect(receiver)


def test_leasing_again_sends_nothing_to_mariadb(vendor: str, pair: Any) -> None:
    if vendor != "mysql":
        pytest.skip("MariaDB's session counter of bytes received from the client")
    first, _ = pair()

    def received() -> int:
        # Each call re-leases, then sends the same SHOW: a constant step.
        with first.cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE 'Bytes_received'")
            return int(cursor.fetchall()[0][1])

    before = [received(), received()]
    step = before[1] - before[0]
    for _ in range(100):
        with first.cursor():  # a re-lease and a release, no SQL
            pass
    # A COM_PING would add 5 bytes, a reset or ROLLBACK more.
    assert received() - before[1] == step


def test_leasing_again_sends_nothing_to_postgresql(vendor: str, pair: Any) -> None:
    if vendor != "postgresql":
        pytest.skip("libpq's trace shows every message; the other drivers have none")
    from ..vendors.test_postgresql import frontend_messages

    first, _ = pair()
    first.ensure_connection()
    conn = first.connection
    with first.cursor():
        pass  # the first close releases
    assert first.connection is None

    def work() -> None:
        for _ in range(100):
            # A cursor that runs nothing: whatever libpq sends is the lease's.
            with first.cursor():
                assert first.connection is conn
            assert first.connection is None

    assert frontend_messages(conn, work) == []


def test_a_released_session_whose_pool_was_closed_connects_anew(pair: Any) -> None:
    first, _ = pair()
    one(first, "SELECT 1")
    old = first._released_to
    first.close_pool()  # as a settings change or a dropped test database does
    assert one(first, "SELECT 2") == 2
    assert first._released_to is not None and first._released_to is not old
    assert old.closed


def test_autocommit_off_holds_until_autocommit_is_back(pair: Any, table: str) -> None:
    first, second = pair()
    first.set_autocommit(False)
    run(first, "INSERT INTO multipool_release_rows VALUES (1)")
    assert not takes_the_connection(second)
    first.commit()
    assert not takes_the_connection(second)
    first.set_autocommit(True)
    assert first.connection is None
    assert takes_the_connection(second)
    assert rows(first) == [1]


# -- transactions -------------------------------------------------------------------


def test_close_old_connections_ends_a_released_session(pair: Any) -> None:
    first, _ = pair()
    one(first, "SELECT 1")
    assert first._released_to is not None
    first.close_if_unusable_or_obsolete()  # what close_old_connections() calls
    assert first._released_to is None
    assert first.pool.checked_out == 0


def test_the_release_path_keeps_debug_query_logging(pair: Any) -> None:
    first, second = pair()
    first.force_debug_cursor = True
    for n in range(3):
        assert one(first, f"SELECT {n}") == n
        assert first.connection is None
    # (MySQL's first connect() also logs its server-variables query.)
    assert [q["sql"] for q in first.queries][-3:] == ["SELECT 0", "SELECT 1", "SELECT 2"]
    assert takes_the_connection(second)


def test_a_connection_closed_in_a_transaction_elsewhere_comes_back_in_autocommit(
    pair: Any, table: str
) -> None:
    first, second = pair()
    # second closes mid-transaction: its connection goes back with autocommit off.
    second.set_autocommit(False)
    run(second, "INSERT INTO multipool_release_rows VALUES (9)")
    second.close()
    # first re-leases it (after one statement of its own) and still autocommits.
    one(first, "SELECT 1")
    run(first, "INSERT INTO multipool_release_rows VALUES (1)")
    assert first.connection is None
    assert rows(first) == [1]


# -- the ORM, through django.db.connections ------------------------------------------


@pytest.fixture
def orm(server: Server, vendor: str) -> Iterator[Any]:
    """An alias in django.db.connections on our database, release="transaction", max_size=1."""
    alias = f"release_{vendor}"
    entry = server.settings(name=DATABASE)
    entry["OPTIONS"]["pool"] = dict(RELEASE, timeout=2)
    connections.settings[alias] = entry
    wrapper = connections[alias]
    with wrapper.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {Ticket._meta.db_table}")
    with wrapper.schema_editor() as editor:
        editor.create_model(Ticket)
    wrapper.close()
    try:
        yield _Orm(alias)
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
        registry.close(alias)


class _Orm:
    def __init__(self, alias: str) -> None:
        self.alias = alias

    @property
    def wrapper(self) -> Any:
        return connections[self.alias]

    @property
    def tickets(self) -> Any:
        return Ticket.objects.using(self.alias)

    def in_use(self) -> int:
        adapter = registry.current(self.alias)
        assert adapter is not None
        return int(adapter.checked_out)

    def close_in_this_thread(self) -> None:
        connections[self.alias].close()

    def other_thread_can_query(self) -> bool:
        """Whether another thread's wrapper of the alias gets the pool's only connection."""
        result: list[bool] = []

        def query() -> None:
            try:
                result.append(self.tickets.filter(pk=-1).exists() is False)
            except PoolTimeout:
                result.append(False)
            finally:
                connections[self.alias].close()

        thread = threading.Thread(target=query)
        thread.start()
        thread.join()
        return result == [True]


def test_orm_statements_release_between_them(orm: Any) -> None:
    ticket = orm.tickets.create(name="a")
    assert orm.wrapper.connection is None
    assert orm.other_thread_can_query()
    assert orm.tickets.get(pk=ticket.pk).name == "a"
    assert orm.in_use() == 0


def test_atomic_holds_and_releases_right_after(orm: Any) -> None:
    with transaction.atomic(using=orm.alias):
        orm.tickets.create(name="a")
        assert orm.wrapper.connection is not None
        assert not orm.other_thread_can_query()
    assert orm.wrapper.connection is None
    assert orm.other_thread_can_query()
    assert orm.tickets.count() == 1


def test_nested_atomic_and_savepoint_rollback(orm: Any) -> None:
    with transaction.atomic(using=orm.alias):
        orm.tickets.create(name="kept")
        with pytest.raises(ValueError), transaction.atomic(using=orm.alias):
            orm.tickets.create(name="undone")
            raise ValueError
        with transaction.atomic(using=orm.alias):
            orm.tickets.create(name="inner")
        assert not orm.other_thread_can_query()
    assert orm.in_use() == 0
    assert sorted(orm.tickets.values_list("name", flat=True)) == ["inner", "kept"]


def test_an_error_in_atomic_rolls_back_and_releases(orm: Any) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(using=orm.alias):
        orm.tickets.create(name="undone")
        with orm.wrapper.cursor() as cursor:
            cursor.execute("SELECT * FROM multipool_no_such_table")
    assert orm.wrapper.connection is None
    assert orm.other_thread_can_query()
    assert orm.tickets.count() == 0


def test_on_commit_runs_after_the_commit_and_may_query(orm: Any) -> None:
    seen: list[int] = []
    with transaction.atomic(using=orm.alias):
        orm.tickets.create(name="a")
        transaction.on_commit(lambda: seen.append(orm.tickets.count()), using=orm.alias)
        assert seen == []
    assert seen == [1]
    assert orm.in_use() == 0
    assert orm.other_thread_can_query()


def test_select_for_update_inside_atomic(orm: Any) -> None:
    ticket = orm.tickets.create(name="a")
    with transaction.atomic(using=orm.alias):
        locked = orm.tickets.select_for_update().get(pk=ticket.pk)
        assert not orm.other_thread_can_query()
        locked.name = "b"
        locked.save(using=orm.alias)
    assert orm.tickets.get(pk=ticket.pk).name == "b"
    assert orm.in_use() == 0


def test_a_chunked_iterator_holds_until_exhausted(orm: Any) -> None:
    # PostgreSQL: a server-side (named, WITH HOLD) cursor; MariaDB: a client cursor
    # read in chunks. Either way the cursor is open until the iterator ends.
    orm.tickets.bulk_create([Ticket(name=str(n)) for n in range(10)])
    iterator = orm.tickets.order_by("pk").iterator(chunk_size=2)
    assert next(iterator).name == "0"
    assert orm.wrapper.connection is not None
    assert not orm.other_thread_can_query()
    assert [t.name for t in iterator] == [str(n) for n in range(1, 10)]
    assert orm.wrapper.connection is None
    assert orm.other_thread_can_query()


def test_pinned_keeps_session_state_and_releases_at_the_end(vendor: str, orm: Any) -> None:
    with pinned(orm.alias) as wrapper:
        assert wrapper is orm.wrapper
        with wrapper.cursor() as cursor:
            cursor.execute(SESSION_SET[vendor])
        assert not orm.other_thread_can_query()
        with pinned(orm.alias):  # nested
            orm.tickets.count()
        assert wrapper.connection is not None
        with wrapper.cursor() as cursor:
            cursor.execute(SESSION_GET[vendor])
            assert cursor.fetchone()[0] == "multipool-pinned"
    assert orm.wrapper.connection is None
    assert orm.other_thread_can_query()


def test_close_old_connections_between_requests(orm: Any) -> None:
    orm.tickets.count()
    assert orm.wrapper._released_to is not None
    close_old_connections()
    assert orm.wrapper._released_to is None
    assert orm.in_use() == 0
    assert orm.tickets.count() == 0


def test_the_async_orm_releases_between_awaits(orm: Any) -> None:
    async def main() -> None:
        ticket = await orm.tickets.acreate(name="a")
        assert orm.in_use() == 0
        assert await asyncio.to_thread(orm.other_thread_can_query)
        assert (await orm.tickets.aget(pk=ticket.pk)).name == "a"
        assert orm.in_use() == 0
        assert [t.name async for t in orm.tickets.all()] == ["a"]
        assert orm.in_use() == 0
        async with pinned(orm.alias):
            await orm.tickets.aget(pk=ticket.pk)
            assert orm.in_use() == 1
            await orm.tickets.acount()
            assert orm.in_use() == 1
        assert orm.in_use() == 0
        # Closed where the async ORM ran, so no session is left behind.
        await sync_to_async(orm.close_in_this_thread, thread_sensitive=True)()

    asyncio.run(main())


def test_async_pinned_keeps_session_state(vendor: str, orm: Any) -> None:
    def set_state() -> None:
        with connections[orm.alias].cursor() as cursor:
            cursor.execute(SESSION_SET[vendor])

    def get_state() -> Any:
        with connections[orm.alias].cursor() as cursor:
            cursor.execute(SESSION_GET[vendor])
            return cursor.fetchone()[0]

    async def main() -> None:
        async with pinned(orm.alias):
            await sync_to_async(set_state, thread_sensitive=True)()
            await orm.tickets.acount()
            assert await sync_to_async(get_state, thread_sensitive=True)() == "multipool-pinned"
        assert orm.in_use() == 0
        await sync_to_async(orm.close_in_this_thread, thread_sensitive=True)()

    asyncio.run(main())


# -- one pinned() object shared by threads and tasks ---------------------------------


@pytest.fixture
def shared(make_alias: Any, vendor: str) -> Any:
    """An alias in django.db.connections with room for two sessions, release="transaction"."""
    return _Orm(make_alias(f"shared_{vendor}", DATABASE, **dict(RELEASE, max_size=2, timeout=2)))


def in_threads(*targets: Any) -> None:
    """Run each target in its own thread (closing its wrappers); re-raise the first failure."""
    failures: list[BaseException] = []

    def run_closing(target: Any) -> None:
        try:
            target()
        except BaseException as exc:
            failures.append(exc)
        finally:
            for wrapper in connections.all(initialized_only=True):
                wrapper.close()

    threads = [threading.Thread(target=run_closing, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    if failures:
        raise failures[0]


def session_state(vendor: str, alias: str) -> Any:
    """What SESSION_SET left on the session this thread's wrapper runs statements on."""
    with connections[alias].cursor() as cursor:
        cursor.execute(SESSION_GET[vendor])
        return cursor.fetchone()[0]


def set_session_state(vendor: str, alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(SESSION_SET[vendor])


def reset_session_state(vendor: str, alias: str) -> None:
    # Undone before the block ends: the next borrower must not find it.
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "RESET application_name" if vendor == "postgresql" else "SET @multipool_pinned = NULL"
        )


def test_one_pinned_object_pins_each_threads_own_wrapper(vendor: str, shared: Any) -> None:
    # A module-level constant, used by two threads at once: the exit of the
    # first must neither unpin the second's wrapper nor leave its own pinned.
    pin = pinned(shared.alias)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def a() -> None:
        try:
            with pin as wrapper:
                set_session_state(vendor, shared.alias)
                reset_session_state(vendor, shared.alias)
                a_in.set()
                assert b_in.wait(5)
            seen["a released after its block"] = wrapper.connection is None
        finally:
            a_in.set()
            a_out.set()

    def b() -> None:
        assert a_in.wait(5)
        with pin as wrapper:
            set_session_state(vendor, shared.alias)
            b_in.set()
            assert a_out.wait(5)
            seen["b held after a's exit"] = wrapper.connection is not None
            seen["b's session state"] = session_state(vendor, shared.alias)
            reset_session_state(vendor, shared.alias)
        seen["b released after its block"] = wrapper.connection is None

    in_threads(a, b)
    assert seen == {
        "a released after its block": True,
        "b held after a's exit": True,
        "b's session state": "multipool-pinned",
        "b released after its block": True,
    }
    assert shared.in_use() == 0


def test_one_pinned_object_nested_in_one_thread_while_another_uses_it(
    vendor: str, shared: Any
) -> None:
    # a: outer block ... b enters and exits ... a: inner block inside the outer.
    pin = pinned(shared.alias)
    a_outer, b_in, a_inner, b_out = (threading.Event() for _ in range(4))
    seen: dict[str, Any] = {}

    def a() -> None:
        try:
            with pin as wrapper:
                set_session_state(vendor, shared.alias)
                a_outer.set()
                assert b_in.wait(5)
                with pin:
                    a_inner.set()
                    assert b_out.wait(5)
                    assert session_state(vendor, shared.alias) == "multipool-pinned"
                seen["a held by its outer block"] = wrapper.connection is not None
                seen["a's session state"] = session_state(vendor, shared.alias)
                reset_session_state(vendor, shared.alias)
            seen["a released after its outer block"] = wrapper.connection is None
        finally:
            a_outer.set()
            a_inner.set()

    def b() -> None:
        try:
            assert a_outer.wait(5)
            with pin as wrapper:
                run(connections[shared.alias], "SELECT 1")
                b_in.set()
                assert a_inner.wait(5)
            seen["b released after its block"] = wrapper.connection is None
        finally:
            b_in.set()
            b_out.set()

    in_threads(a, b)
    assert seen == {
        "b released after its block": True,
        "a held by its outer block": True,
        "a's session state": "multipool-pinned",
        "a released after its outer block": True,
    }
    assert shared.in_use() == 0


def in_request(coroutine_function: Any) -> Any:
    """Run it as an ASGI request runs: with a sync thread of its own for the ORM."""

    async def request(*args: Any) -> Any:
        async with ThreadSensitiveContext():
            try:
                return await coroutine_function(*args)
            finally:
                await sync_to_async(close_old_connections, thread_sensitive=True)()

    return request


def test_one_pinned_object_pins_each_tasks_own_wrapper(vendor: str, shared: Any) -> None:
    # Two requests in flight on one event loop sharing a module-level pinned():
    # each request's sync thread has its own wrapper, and the first request's
    # exit must unpin its own, in its own thread.
    pin = pinned(shared.alias)
    seen: dict[str, Any] = {}

    def held() -> bool:
        return connections[shared.alias].connection is not None

    async def main() -> None:
        a_in, b_in, a_out = asyncio.Event(), asyncio.Event(), asyncio.Event()

        @in_request
        async def a() -> None:
            async with pin:
                await sync_to_async(set_session_state)(vendor, shared.alias)
                await sync_to_async(reset_session_state)(vendor, shared.alias)
                a_in.set()
                await asyncio.wait_for(b_in.wait(), 5)
            seen["a released after its block"] = not await sync_to_async(held)()
            a_out.set()

        @in_request
        async def b() -> None:
            await asyncio.wait_for(a_in.wait(), 5)
            async with pin:
                await sync_to_async(set_session_state)(vendor, shared.alias)
                b_in.set()
                await asyncio.wait_for(a_out.wait(), 5)
                seen["b held after a's exit"] = await sync_to_async(held)()
                seen["b's session state"] = await sync_to_async(session_state)(
                    vendor, shared.alias
                )
                await sync_to_async(reset_session_state)(vendor, shared.alias)
            seen["b released after its block"] = not await sync_to_async(held)()

        await asyncio.gather(a(), b())

    asyncio.run(main())
    assert seen == {
        "a released after its block": True,
        "b held after a's exit": True,
        "b's session state": "multipool-pinned",
        "b released after its block": True,
    }
    assert shared.in_use() == 0


def test_pinned_decorates_a_sync_function_used_by_two_threads(vendor: str, shared: Any) -> None:
    both_in = threading.Barrier(2, timeout=5)
    first_out = threading.Event()
    states: list[Any] = []

    @pinned(shared.alias)
    def report(first: bool) -> bool:
        set_session_state(vendor, shared.alias)
        both_in.wait()
        if not first:
            assert first_out.wait(5)  # the other call has returned: still pinned here
            states.append(session_state(vendor, shared.alias))
        reset_session_state(vendor, shared.alias)
        return connections[shared.alias].connection is not None

    results: dict[str, Any] = {}

    def call(first: bool) -> None:
        try:
            results[f"{first} held inside"] = report(first)
            results[f"{first} released after"] = connections[shared.alias].connection is None
        finally:
            if first:
                first_out.set()

    in_threads(lambda: call(True), lambda: call(False))
    assert report.__name__ == "report"
    assert states == ["multipool-pinned"]
    assert all(results.values()) and len(results) == 4, results
    assert shared.in_use() == 0


def test_pinned_decorates_a_coroutine_function_used_by_two_tasks(vendor: str, shared: Any) -> None:
    seen: dict[str, Any] = {}

    def held() -> bool:
        return connections[shared.alias].connection is not None

    async def main() -> None:
        both_in = asyncio.Barrier(2)
        first_out = asyncio.Event()

        @pinned(shared.alias)
        async def report(first: bool) -> bool:
            await sync_to_async(set_session_state)(vendor, shared.alias)
            await asyncio.wait_for(both_in.wait(), 5)
            if not first:
                await asyncio.wait_for(first_out.wait(), 5)
                seen["state after the other returned"] = await sync_to_async(session_state)(
                    vendor, shared.alias
                )
            await sync_to_async(reset_session_state)(vendor, shared.alias)
            return await sync_to_async(held)()

        @in_request
        async def call(first: bool) -> None:
            try:
                seen[f"{first} held inside"] = await report(first)
                seen[f"{first} released after"] = not await sync_to_async(held)()
            finally:
                if first:
                    first_out.set()

        assert inspect.iscoroutinefunction(report)
        await asyncio.gather(call(True), call(False))

    asyncio.run(main())
    assert seen == {
        "True held inside": True,
        "True released after": True,
        "False held inside": True,
        "False released after": True,
        "state after the other returned": "multipool-pinned",
    }
    assert shared.in_use() == 0
