"""Raw SQL in ``release="transaction"``: nothing it started is lost between statements.

A transaction opened with SQL keeps the session's connection until it ends,
as inside ``atomic()``; a statement that creates session state keeps it
until the session ends (``session_state="hold"``) or is refused
(``"error"``); one left open at the session's end is rolled back with a
WARNING. On every vendor with a server (Oracle's server-side parts need one).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import connections, transaction

from django_multipool import PoolTimeout, SessionStateError, pinned
from django_multipool.backends import mixins

from ..probes import Probe

pytestmark = pytest.mark.vendor

DATABASE = "multipool_release"
TRANSACTION = {"min_size": 1, "max_size": 1, "timeout": 0.5, "release": "transaction"}
TABLE = "multipool_raw_rows"

BEGIN = {"postgresql": "BEGIN", "mysql": "START TRANSACTION"}
#: Statements that leave state in the session, and one that reads it.
SESSION_STATE = {
    "postgresql": [
        ("SET application_name = 'multipool-raw'", "SHOW application_name", "multipool-raw"),
        (
            "SELECT pg_advisory_lock(4242)",
            "SELECT count(*) FROM pg_locks WHERE "
            "locktype = 'advisory' AND objid = 4242 AND pid = pg_backend_pid()",
            1,
        ),
        ("CREATE TEMPORARY TABLE multipool_tmp (n int)", "SELECT count(*) FROM multipool_tmp", 0),
    ],
    "mysql": [
        ("SET @multipool_raw = 'multipool-raw'", "SELECT @multipool_raw", "multipool-raw"),
        (
            "SELECT GET_LOCK('multipool-raw', 0)",
            "SELECT IS_USED_LOCK('multipool-raw') = CONNECTION_ID()",
            1,
        ),
        ("CREATE TEMPORARY TABLE multipool_tmp (n int)", "SELECT count(*) FROM multipool_tmp", 0),
    ],
}


@pytest.fixture(autouse=True)
def _live_sql_vendors(vendor: str, probe: Probe) -> None:
    if vendor not in BEGIN:
        pytest.skip(
            f"no {vendor} server here: the raw-SQL statements are PostgreSQL's and MySQL's"
        )
    probe.ensure_database(DATABASE)


@pytest.fixture(autouse=True)
def _fresh_call_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    # One warning per call site and process: each test starts with none seen.
    monkeypatch.setattr(mixins, "_warned_sites", set())


@pytest.fixture
def pair(make_wrapper: Any) -> Any:
    """Two wrappers of one pool of ``TRANSACTION`` options (max_size=1)."""

    def make(**options: Any) -> tuple[Any, Any]:
        options = {**TRANSACTION, **options}
        first = make_wrapper(settings={"name": DATABASE}, **options)
        second = make_wrapper(alias=first.alias, settings={"name": DATABASE}, **options)
        return first, second

    return make


def run(wrapper: Any, sql: str) -> Any:
    with wrapper.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone() if cursor.description else None


def takes_the_connection(other: Any) -> bool:
    try:
        run(other, "SELECT 1")
    except PoolTimeout:
        return False
    other.close()
    return True


@pytest.fixture
def table(make_wrapper: Any) -> str:
    wrapper = make_wrapper(settings={"name": DATABASE})
    run(wrapper, f"CREATE TABLE IF NOT EXISTS {TABLE} (n integer)")
    run(wrapper, f"DELETE FROM {TABLE}")
    wrapper.close()
    return TABLE


def rows(wrapper: Any) -> list[int]:
    with wrapper.cursor() as cursor:
        cursor.execute(f"SELECT n FROM {TABLE} ORDER BY n")
        return [n for (n,) in cursor.fetchall()]


@pytest.mark.parametrize("release", ["request", "transaction"])
def test_a_raw_transaction_across_cursors_keeps_every_write(
    pair: Any, vendor: str, table: str, release: str
) -> None:
    first, second = pair(release=release)
    with first.cursor() as cursor:
        cursor.execute(BEGIN[vendor])
        cursor.execute(f"INSERT INTO {table} VALUES (1)")
    # Still in the transaction: the connection stays with this session.
    assert first.connection is not None
    assert not takes_the_connection(second)
    with first.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} VALUES (2)")
        cursor.execute("COMMIT")
    first.close()
    assert rows(second) == [1, 2]


def test_after_commit_the_connection_goes_back(pair: Any, vendor: str, table: str) -> None:
    first, second = pair()
    run(first, BEGIN[vendor])
    run(first, f"INSERT INTO {table} VALUES (1)")
    run(first, "COMMIT")
    assert first.connection is None
    assert takes_the_connection(second)


def test_a_raw_transaction_left_open_is_rolled_back_with_a_warning(
    pair: Any, vendor: str, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="django_multipool")
    first, second = pair()
    run(first, BEGIN[vendor])
    run(first, f"INSERT INTO {table} VALUES (7)")  # the line the warning names
    first.close()  # the request ends without COMMIT
    assert rows(second) == []
    [record] = [r for r in caplog.records if "did not open" in r.getMessage()]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert repr(first.alias) in message
    assert f"{__file__}:" in message  # where BEGIN ran (the helper above)


def test_mysql_autocommit_switched_off_by_sql_holds_the_connection(
    pair: Any, vendor: str, table: str
) -> None:
    if vendor != "mysql":
        pytest.skip("SET autocommit is MySQL's")
    first, second = pair()
    run(first, "SET autocommit = 0")
    run(first, f"INSERT INTO {table} VALUES (3)")
    assert not takes_the_connection(second)
    run(first, "COMMIT")
    run(first, "SET autocommit = 1")
    first.close()
    assert rows(second) == [3]


@pytest.mark.parametrize("case", range(3))
def test_session_state_holds_the_connection_until_the_session_ends(
    pair: Any, vendor: str, case: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="django_multipool")
    statement, read_back, expected = SESSION_STATE[vendor][case]
    first, second = pair()
    run(first, statement)
    assert first.connection is not None
    assert not takes_the_connection(second)
    # The state is there for the session's next statements.
    assert run(first, read_back)[0] == expected
    [record] = [r for r in caplog.records if "creates session state" in r.getMessage()]
    assert __file__ in record.getMessage()
    first.close()  # the request ends: the connection goes back
    assert takes_the_connection(second)


def test_one_warning_per_call_site(
    pair: Any, vendor: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="django_multipool")
    first, _ = pair()
    statement = SESSION_STATE[vendor][0][0]
    for _ in range(3):
        run(first, statement)  # one call site
        first.close()
    warnings = [r for r in caplog.records if "creates session state" in r.getMessage()]
    assert len(warnings) == 1


def test_session_state_error_refuses_the_statement(pair: Any, vendor: str) -> None:
    first, second = pair(session_state="error")
    statement, read_back, _ = SESSION_STATE[vendor][0]
    with pytest.raises(SessionStateError, match=r"pinned\(\)"):
        run(first, statement)
    # Not sent: the session has no such state, and nothing is held.
    first.close()
    assert run(first, read_back)[0] != "multipool-raw"
    assert first.connection is None
    assert takes_the_connection(second)


@pytest.fixture
def alias(make_alias: Any) -> str:
    """An alias in django.db.connections (pinned() and atomic() look it up there)."""
    return make_alias("multipool_raw_sql", DATABASE, **TRANSACTION, session_state="error")


def test_session_state_inside_pinned_or_atomic_is_not_refused(alias: str, vendor: str) -> None:
    statement, read_back, expected = SESSION_STATE[vendor][0]
    wrapper = connections[alias]
    with pinned(alias):
        run(wrapper, statement)
        assert run(wrapper, read_back)[0] == expected
    wrapper.close()
    with transaction.atomic(using=alias):
        run(wrapper, statement)  # the transaction holds the connection meanwhile
    wrapper.close()
    with pytest.raises(SessionStateError):
        run(wrapper, statement)


def test_request_mode_does_not_look_at_statements(pair: Any, vendor: str) -> None:
    first, _ = pair(release="request", session_state="error")
    statement, read_back, expected = SESSION_STATE[vendor][0]
    run(first, statement)  # no error: request mode holds the session anyway
    assert run(first, read_back)[0] == expected
