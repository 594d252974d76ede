"""Guarantee 6: nothing a borrower leaves in its server session reaches the next borrower.

With ``reset="session"`` no kind of session state survives a return: one
test per kind (``Probe.session_states`` in tests/probes/<vendor>.py), once
through the adapter and once through two Django wrappers of one alias. With
either reset mode an open or a failed transaction never survives.

Every pool here has ``max_size=1``, and every test asserts that the next
borrower got the *same server session* (``resets_session_in_place``; only
Oracle's thin mode opens a new one instead): a test whose second borrower
landed on a fresh session would pass without any reset and prove nothing.
Each test also checks that the state it left was visible before the return,
so a statement that silently did nothing cannot make it pass either.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from ..driver_api import mysql_in_transaction, set_autocommit
from ..probes import Probe, SessionState, probe_class
from ..servers import selected_vendors

pytestmark = pytest.mark.vendor

_aliases = itertools.count()


#: One test per (vendor, kind of session state): the kinds differ by vendor.
STATE_CASES = [
    pytest.param(vendor, kind, id=f"{vendor}-{kind}")
    for vendor in selected_vendors()
    for kind in probe_class(vendor).session_states
]
per_state_kind = pytest.mark.parametrize(
    ("vendor", "state_kind"), STATE_CASES, indirect=["vendor"]
)


# -- reading a session ----------------------------------------------------------------


def run(cursor_of: Callable[[], Any], sql: str) -> list[tuple[Any, ...]]:
    """Execute ``sql`` on a new cursor; return its rows, as tuples."""
    cursor = cursor_of()
    try:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
    finally:
        cursor.close()


def observe(cursor_of: Callable[[], Any], sql: str) -> Any:
    """The rows ``sql`` returns, or the kind of error it raises (state that is gone)."""
    try:
        return run(cursor_of, sql)
    except Exception as exc:  # each driver and Django have their own classes
        return ("error", type(exc).__name__)


def session_id(cursor_of: Callable[[], Any], probe: Probe) -> Any:
    return run(cursor_of, probe.backend_id_sql)[0][0]


def prepare(probe: Probe, state: SessionState) -> None:
    for sql in state.prepare:
        probe.execute_in_test_db(sql)


def leave_state(cursor_of: Callable[[], Any], state: SessionState) -> tuple[Any, Any]:
    """Read the state, leave it, read it again; return (clean, dirty)."""
    clean = observe(cursor_of, state.read)
    for sql in state.leave:
        run(cursor_of, sql)
    dirty = observe(cursor_of, state.read)
    assert dirty != clean, f"{state.leave} changed nothing {state.read!r} sees: proves nothing"
    return clean, dirty


def same_alias_wrappers(make_wrapper: Callable[..., Any], **pool: Any) -> tuple[Any, Any]:
    """Two DatabaseWrappers of one alias, as two threads of a site have: one pool."""
    alias = f"iso{next(_aliases)}"
    first = make_wrapper(alias=alias, pool=dict(pool))
    second = make_wrapper(alias=alias, pool=dict(pool))
    assert first.pool is second.pool
    return first, second


# -- reset="session": every kind of session state -------------------------------------


@per_state_kind
def test_session_reset_wipes_it_through_the_adapter(
    vendor: str, state_kind: str, make_pool: Any, probe: Probe
) -> None:
    state = probe.session_states[state_kind]
    prepare(probe, state)
    pool = make_pool(min_size=1, max_size=1, reset="session")
    conn = pool.acquire()
    first = session_id(conn.cursor, probe)
    clean, _ = leave_state(conn.cursor, state)
    pool.release(conn)

    conn = pool.acquire(timeout=10)
    try:
        reused = session_id(conn.cursor, probe) == first
        assert reused is type(pool).resets_session_in_place
        assert observe(conn.cursor, state.read) == clean
    finally:
        pool.release(conn)


@per_state_kind
def test_session_reset_wipes_it_through_django(
    vendor: str, state_kind: str, make_wrapper: Any, probe: Probe
) -> None:
    state = probe.session_states[state_kind]
    prepare(probe, state)
    leaver, next_borrower = same_alias_wrappers(
        make_wrapper, min_size=1, max_size=1, reset="session"
    )
    first = session_id(leaver.cursor, probe)
    clean, _ = leave_state(leaver.cursor, state)
    leaver.close()

    reused = session_id(next_borrower.cursor, probe) == first
    assert reused is type(next_borrower.pool).resets_session_in_place
    assert observe(next_borrower.cursor, state.read) == clean
    next_borrower.close()


# -- either reset mode: open and failed transactions ---------------------------------

TABLE = "multipool_iso_tx"


def fresh_table(probe: Probe) -> None:
    probe.execute_in_test_db(f"DROP TABLE IF EXISTS {TABLE}")
    probe.execute_in_test_db(f"CREATE TABLE {TABLE} (id INT PRIMARY KEY, who VARCHAR(20))")
    probe.execute_in_test_db(f"INSERT INTO {TABLE} VALUES (0, 'seed')")


def leave_a_transaction(cursor_of: Callable[[], Any], *, failed: bool) -> None:
    """Lock row 0, insert row 1 and, for ``failed``, hit an error: then walk away."""
    run(cursor_of, f"SELECT who FROM {TABLE} WHERE id = 0 FOR UPDATE")
    run(cursor_of, f"INSERT INTO {TABLE} VALUES (1, 'first')")
    if failed:
        with pytest.raises(Exception):  # noqa: B017 - each driver has its own IntegrityError
            run(cursor_of, f"INSERT INTO {TABLE} VALUES (0, 'duplicate')")


def assert_only_the_next_borrowers_work_is_there(probe: Probe) -> None:
    """Seen from outside while the next borrower still holds the session."""
    rows = probe.execute_in_test_db(f"SELECT id FROM {TABLE} ORDER BY id")
    assert [row[0] for row in rows] == [0, 2], "row 1 is the first borrower's; 2 the next one's"
    # The first borrower's row lock went with its transaction: NOWAIT would fail otherwise.
    probe.execute_in_test_db(f"SELECT who FROM {TABLE} WHERE id = 0 FOR UPDATE NOWAIT")


def assert_the_transaction_is_open(vendor: str, conn: Any, *, failed: bool) -> None:
    # The premise of the test, asked of the driver: the borrower really walks
    # away inside a transaction (on PostgreSQL, a failed one).
    if vendor == "postgresql":
        from psycopg.pq import TransactionStatus

        expected = TransactionStatus.INERROR if failed else TransactionStatus.INTRANS
        assert conn.info.transaction_status == expected
    elif vendor == "mysql":
        assert mysql_in_transaction(conn)
    elif vendor == "oracle":
        assert conn.transaction_in_progress


@pytest.mark.parametrize("reset", ["rollback", "session"])
@pytest.mark.parametrize("failed", [False, True], ids=["open", "failed"])
def test_a_transaction_never_reaches_the_next_borrower_through_the_adapter(
    vendor: str, make_pool: Any, probe: Probe, reset: str, failed: bool
) -> None:
    fresh_table(probe)
    pool = make_pool(min_size=1, max_size=1, reset=reset)
    conn = pool.acquire()
    first = session_id(conn.cursor, probe)
    set_autocommit(conn, False)
    leave_a_transaction(conn.cursor, failed=failed)
    assert_the_transaction_is_open(vendor, conn, failed=failed)
    pool.release(conn)

    conn = pool.acquire(timeout=10)
    try:
        # First thing, before a statement of its own could begin a transaction:
        # were the first borrower's still open, this would fail (psycopg
        # refuses inside a transaction) or commit it (MySQL's SET autocommit
        # = 1, and Oracle's next statement, commit what is open).
        set_autocommit(conn, True)
        reused = session_id(conn.cursor, probe) == first
        assert reused is (reset == "rollback" or type(pool).resets_session_in_place)
        run(conn.cursor, f"INSERT INTO {TABLE} VALUES (2, 'second')")
        assert_only_the_next_borrowers_work_is_there(probe)
    finally:
        pool.release(conn)


@pytest.mark.parametrize("reset", ["rollback", "session"])
@pytest.mark.parametrize("failed", [False, True], ids=["open", "failed"])
def test_a_transaction_never_reaches_the_next_borrower_through_django(
    vendor: str, make_wrapper: Any, probe: Probe, reset: str, failed: bool
) -> None:
    fresh_table(probe)
    leaver, next_borrower = same_alias_wrappers(make_wrapper, min_size=1, max_size=1, reset=reset)
    first = session_id(leaver.cursor, probe)
    leaver.set_autocommit(False)
    leave_a_transaction(leaver.cursor, failed=failed)
    assert_the_transaction_is_open(vendor, leaver.connection, failed=failed)
    leaver.close()  # what the end of a request does, whatever state it is in

    reused = session_id(next_borrower.cursor, probe) == first
    pool = next_borrower.pool
    assert reused is (reset == "rollback" or type(pool).resets_session_in_place)
    run(next_borrower.cursor, f"INSERT INTO {TABLE} VALUES (2, 'second')")
    assert_only_the_next_borrowers_work_is_there(probe)
    next_borrower.close()


# -- vendor specifics ---------------------------------------------------------------


def vendors(*names: str) -> list[str]:
    return [name for name in selected_vendors() if name in names]


MARKER_SQL = "SELECT 'multipool_leak_marker', 1"
# Built by concatenation, so that this query, prepared in turn, does not match itself.
COUNT_MARKED_PREPARED = (
    "SELECT count(*) FROM pg_prepared_statements"
    " WHERE NOT from_sql AND statement LIKE '%' || 'multipool_leak' || '_marker%'"
)


@pytest.mark.parametrize("vendor", vendors("postgresql"), indirect=True)
def test_psycopg_prepared_statements_do_not_survive_a_session_reset(
    vendor: str, make_pool: Any, probe: Probe
) -> None:
    import psycopg

    pool = make_pool(min_size=1, max_size=1, reset="session")
    conn = pool.acquire()
    first = session_id(conn.cursor, probe)
    # Django turns psycopg's prepared statements off (prepare_threshold=None,
    # for PgBouncer's sake, and a client-side binding cursor_factory); this
    # borrower turns them on for itself.
    threshold, conn.prepare_threshold = conn.prepare_threshold, 0
    psycopg.Cursor(conn).execute(MARKER_SQL, prepare=True)
    assert conn.execute(COUNT_MARKED_PREPARED).fetchone()[0] == 1
    conn.prepare_threshold = threshold
    pool.release(conn)

    conn = pool.acquire(timeout=10)
    try:
        assert session_id(conn.cursor, probe) == first
        assert conn.execute(COUNT_MARKED_PREPARED).fetchone()[0] == 0
        # psycopg forgot them too: it prepares again rather than executing a
        # statement name the server no longer knows.
        conn.prepare_threshold = 0
        assert psycopg.Cursor(conn).execute(MARKER_SQL, prepare=True).fetchone()[1] == 1
        conn.prepare_threshold = threshold
    finally:
        pool.release(conn)


@pytest.mark.parametrize("vendor", vendors("postgresql"), indirect=True)
def test_psycopg_prepared_statements_do_not_survive_through_django(
    vendor: str, make_wrapper: Any, probe: Probe
) -> None:
    alias = f"iso{next(_aliases)}"
    options = {"min_size": 1, "max_size": 1, "reset": "session"}
    # psycopg prepares every statement Django sends (server-side binding only).
    settings = {"OPTIONS": {"prepare_threshold": 0, "server_side_binding": True}}
    leaver = make_wrapper(alias=alias, pool=dict(options), settings=settings)
    next_borrower = make_wrapper(alias=alias, pool=dict(options), settings=settings)
    assert leaver.pool is next_borrower.pool
    first = session_id(leaver.cursor, probe)
    run(leaver.cursor, MARKER_SQL)
    assert run(leaver.cursor, COUNT_MARKED_PREPARED) == [(1,)]
    leaver.close()

    assert session_id(next_borrower.cursor, probe) == first
    assert run(next_borrower.cursor, COUNT_MARKED_PREPARED) == [(0,)]
    assert run(next_borrower.cursor, MARKER_SQL) == [("multipool_leak_marker", 1)]
    next_borrower.close()


def psycopg_characteristics(conn: Any) -> tuple[Any, ...]:
    return (conn.isolation_level, conn.read_only, conn.deferrable)


@pytest.mark.parametrize("vendor", vendors("postgresql"), indirect=True)
def test_psycopg_transaction_characteristics_do_not_survive_a_session_reset(
    vendor: str, make_pool: Any, probe: Probe
) -> None:
    # psycopg keeps these on the connection object and sends them with every
    # BEGIN: they are the session's SET SESSION CHARACTERISTICS, held client-side.
    from psycopg import IsolationLevel

    pool = make_pool(min_size=1, max_size=1, reset="session")
    conn = pool.acquire()
    first = session_id(conn.cursor, probe)
    clean = psycopg_characteristics(conn)
    conn.isolation_level = IsolationLevel.SERIALIZABLE
    conn.read_only = True
    conn.deferrable = True
    pool.release(conn)

    conn = pool.acquire(timeout=10)
    try:
        assert session_id(conn.cursor, probe) == first
        assert psycopg_characteristics(conn) == clean
        conn.autocommit = False
        assert conn.execute("SHOW transaction_read_only").fetchone()[0] == "off"
        conn.rollback()
    finally:
        pool.release(conn)


@pytest.mark.parametrize("vendor", vendors("postgresql"), indirect=True)
def test_a_read_only_driver_connection_does_not_reach_the_next_django_request(
    vendor: str, make_wrapper: Any, probe: Probe
) -> None:
    fresh_table(probe)
    leaver, next_borrower = same_alias_wrappers(
        make_wrapper, min_size=1, max_size=1, reset="session"
    )
    first = session_id(leaver.cursor, probe)
    leaver.connection.read_only = True  # e.g. a "read-only view" decorator
    leaver.close()

    assert session_id(next_borrower.cursor, probe) == first
    next_borrower.set_autocommit(False)  # atomic(): psycopg sends BEGIN with its flags
    run(next_borrower.cursor, f"INSERT INTO {TABLE} VALUES (2, 'second')")
    next_borrower.commit()
    next_borrower.set_autocommit(True)
    next_borrower.close()
    assert probe.execute_in_test_db(f"SELECT id FROM {TABLE} WHERE id = 2") == [(2,)]


@pytest.mark.parametrize("reset", ["rollback", "session"])
@pytest.mark.parametrize("vendor", vendors("mysql"), indirect=True)
def test_autocommit_switched_off_in_sql_does_not_reach_the_next_django_request(
    vendor: str, make_wrapper: Any, probe: Probe, reset: str
) -> None:
    # The connector caches autocommit and cannot see SQL change it; Django's
    # next request trusts the cache. Had "SET autocommit = 0" survived, the
    # next request's INSERT would run in a transaction nobody commits, and
    # its write would vanish when the connection is returned.
    fresh_table(probe)
    leaver, next_borrower = same_alias_wrappers(make_wrapper, min_size=1, max_size=1, reset=reset)
    first = session_id(leaver.cursor, probe)
    run(leaver.cursor, "SET autocommit = 0")
    leaver.close()

    assert session_id(next_borrower.cursor, probe) == first
    run(next_borrower.cursor, f"INSERT INTO {TABLE} VALUES (2, 'second')")
    next_borrower.close()
    assert probe.execute_in_test_db(f"SELECT id FROM {TABLE} WHERE id = 2") == [(2,)]


@pytest.mark.parametrize("reset", ["rollback", "session"])
@pytest.mark.parametrize("vendor", vendors("mysql"), indirect=True)
def test_unread_rows_do_not_reach_the_next_borrower(
    vendor: str, make_pool: Any, probe: Probe, reset: str
) -> None:
    pool = make_pool(min_size=1, max_size=1, reset=reset)
    conn = pool.acquire()
    first = session_id(conn.cursor, probe)
    if hasattr(conn, "unread_result"):  # mysql-connector
        # Streamed (OPTIONS["buffered"] = False; the backend reads results
        # whole by default) and never fetched.
        conn.cursor(buffered=False).execute("SELECT 1 UNION SELECT 2 UNION SELECT 3")
        assert conn.unread_result
    else:
        import MySQLdb.cursors

        # mysqlclient's streaming cursor (Django's backend never makes one).
        streaming = conn.cursor(MySQLdb.cursors.SSCursor)
        streaming.execute("SELECT 1 UNION SELECT 2 UNION SELECT 3")
    pool.release(conn)

    conn = pool.acquire(timeout=10)
    try:
        # mysql-connector reads the rows; mysqlclient's belong to a cursor the
        # pool cannot reach, and COM_RESET_CONNECTION reads past them. The
        # session stays either way.
        assert session_id(conn.cursor, probe) == first
        assert run(conn.cursor, "SELECT 42") == [(42,)]
    finally:
        pool.release(conn)


def test_every_vendor_declares_the_kinds_of_session_state() -> None:
    # The per-kind tests are generated from these tables: an empty one would
    # quietly test nothing for its vendor.
    for vendor in ("postgresql", "mysql", "oracle"):
        states = probe_class(vendor).session_states
        assert len(states) >= 5, vendor
        assert {"settings", "temp_table", "time_zone"} <= set(states), vendor
