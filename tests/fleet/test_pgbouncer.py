"""What breaks behind PgBouncer in transaction mode, and how ``behind`` catches it first.

A PgBouncer of the test's own with ONE server session per database, so that
every client's transactions run on the same server session and what one
client leaves there, the next one finds: the breakage a busy site meets by
chance, made certain. The contract suite and a Django-suite subset run behind
PgBouncer too (``MULTIPOOL_PGBOUNCER``, ``run.py --behind-pgbouncer``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction

import django_multipool
from django_multipool import SessionStateError

from .. import pgbouncer
from ..probes import Probe
from ..servers import Server

pytestmark = [pytest.mark.vendor, pytest.mark.slow]

DATABASE = "multipool_fleet"


@pytest.fixture(scope="module")
def one_session_bouncer(vendor: str) -> Iterator[Server]:
    if vendor != "postgresql":
        pytest.skip("PgBouncer is a PostgreSQL pooler")
    if pgbouncer.binary() is None:
        if pgbouncer.required():
            pytest.fail(f"CI=true, but {pgbouncer.missing_reason()}")
        pytest.skip(pgbouncer.missing_reason())
    from ..servers import find_server

    target, _ = find_server("postgresql")
    assert target is not None
    bouncer = pgbouncer.PgBouncer(target, "transaction", pool_size=1).start()
    try:
        yield bouncer.server
    finally:
        bouncer.stop()


def show(connection: Any, setting: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {setting}")
        return str(cursor.fetchone()[0])


@pytest.fixture
def aliases() -> Iterator[list[str]]:
    from django.db import connections

    from django_multipool.backends.registry import registry

    made: list[str] = []
    yield made
    for name in made:
        connections[name].close()
        del connections[name]
        del connections.settings[name]
        registry.close(name)


@pytest.fixture
def through_bouncer(
    one_session_bouncer: Server, probe: Probe, aliases: list[str]
) -> Callable[..., Any]:
    from django.db import connections

    probe.ensure_database(DATABASE)

    def make(name: str, **pool: Any) -> Any:
        entry = one_session_bouncer.settings(name=DATABASE, DISABLE_SERVER_SIDE_CURSORS=True)
        entry["OPTIONS"]["pool"] = {"max_size": 2, "timeout": 5, **pool}
        connections.settings[name] = entry
        aliases.append(name)
        return connections[name]

    return make


def test_without_behind_a_set_reaches_the_next_client(through_bouncer: Any) -> None:
    first, second = through_bouncer("bouncer_a"), through_bouncer("bouncer_b")
    default = show(second, "work_mem")
    with first.cursor() as cursor:
        cursor.execute("SET work_mem = '7MB'")
    try:
        # Another client, another pool: PgBouncer lent it the same server session.
        assert show(second, "work_mem") == "7MB" != default
    finally:
        with first.cursor() as cursor:
            cursor.execute("RESET work_mem")


@pytest.mark.parametrize("release", ["request", "transaction"])
def test_behind_refuses_session_state_everywhere_and_nothing_reaches_the_server(
    through_bouncer: Any, release: str
) -> None:
    ours = through_bouncer(f"bouncer_{release}", release=release, behind="pgbouncer-transaction")
    other = through_bouncer(f"bouncer_other_{release}")
    default = show(other, "work_mem")
    for statement in ("SET work_mem = '7MB'", "SELECT pg_advisory_lock(42)", "LISTEN jobs"):
        with (
            pytest.raises(SessionStateError, match="behind a transaction pooler"),
            ours.cursor() as cursor,
        ):
            cursor.execute(statement)
        # Inside atomic() and pinned() too: the pooler's session is not held by them.
        with (
            pytest.raises(SessionStateError, match="SET LOCAL"),
            transaction.atomic(using=ours.alias),
            ours.cursor() as cursor,
        ):
            cursor.execute(statement)
        with (
            pytest.raises(SessionStateError),
            django_multipool.pinned(ours.alias),
            ours.cursor() as cursor,
        ):
            cursor.execute(statement)
    # What lasts only as long as the transaction is fine.
    with transaction.atomic(using=ours.alias), ours.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '9MB'")
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone() == ("9MB",)
        cursor.execute("SELECT pg_advisory_xact_lock(42)")
    assert show(other, "work_mem") == default
    assert show(ours, "work_mem") == default


@pytest.mark.skipif(
    pgbouncer.binary() is not None and pgbouncer.version() >= (1, 21),
    reason="PgBouncer 1.21+ can carry protocol-level prepared statements",
)
def test_prepared_statements_break_behind_pgbouncer_before_1_21(
    one_session_bouncer: Server, through_bouncer: Any
) -> None:
    # What W006 warns about: psycopg names its statements _pg3_0, _pg3_1...
    # per client connection; behind one server session, the second client's
    # _pg3_0 already exists there.
    import psycopg

    where = one_session_bouncer
    connect = dict(host=where.host, port=where.port, user=where.user, dbname=DATABASE)
    with (
        psycopg.connect(**connect, autocommit=True, prepare_threshold=0) as first,
        psycopg.connect(**connect, autocommit=True, prepare_threshold=0) as second,
    ):
        first.execute("SELECT %s::int", [1])
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement, match="_pg3_0"):
            second.execute("SELECT %s::int", [1])
    # Django's default (prepare_threshold=None) prepares nothing, however
    # often a statement runs: two clients take turns on the one session.
    clients = [through_bouncer(f"unprepared_{i}", behind="pgbouncer-transaction") for i in (1, 2)]
    for _ in range(8):
        for client in clients:
            with client.cursor() as cursor:
                cursor.execute("SELECT %s::int", [1])
                assert cursor.fetchone() == (1,)
