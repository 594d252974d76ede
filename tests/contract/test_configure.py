"""``OPTIONS["pool"]["configure"]`` on every vendor with a server, in both release modes.

The hook sets session state (PostgreSQL's ``application_name``, a MySQL
user variable) and records each connection it is called with. What these
tests hold it to: every checkout sees that state, the hook runs once per
physical connection and again after ``reset="session"``, and a hook that
fails leaves no connection behind, lent or open. Oracle's side is unit
tested (tests/unit/test_oracledb_adapter.py, test_oracledb_backend.py):
there is no Oracle server here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from django_multipool import PoolTimeout

from ..probes import Probe

pytestmark = pytest.mark.vendor

#: Our own database: the failure tests count the server's sessions on it.
DATABASE = "multipool_configure"
STATE = "multipool-configured"

SET_STATE = {
    "postgresql": f"SET application_name = '{STATE}'",
    "mysql": f"SET @multipool_configured = '{STATE}'",
}
SET_OTHER = {
    "postgresql": "SET application_name = 'a borrower'",
    "mysql": "SET @multipool_configured = 'a borrower'",
}
GET_STATE = {
    "postgresql": "SHOW application_name",
    "mysql": "SELECT @multipool_configured",
}


@pytest.fixture(autouse=True)
def _only_live_vendors(vendor: str, probe: Probe) -> None:
    if vendor == "oracle":
        pytest.skip("no Oracle server here; Oracle's configure is unit-tested")
    probe.ensure_database(DATABASE)


class HookFailed(Exception):
    pass


def execute(connection: Any, sql: str) -> None:
    """Run ``sql`` on a driver's own connection, as a user's hook would."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        if cursor.description:
            cursor.fetchall()
    finally:
        cursor.close()


def vendor_of(connection: Any) -> str:
    return "postgresql" if type(connection).__module__.startswith("psycopg") else "mysql"


def set_state(connection: Any) -> None:
    """A hook named by its dotted path in a test below."""
    execute(connection, SET_STATE[vendor_of(connection)])


class Hook:
    """Sets the session state and records each connection it is called with.

    ``fail_on``: the calls (1-based) that raise, after setting the state;
    ``begin``: leave a transaction open instead.
    """

    def __init__(self, *, fail_on: Callable[[int], bool] = lambda n: False, begin: bool = False):
        self.calls: list[Any] = []
        self.threads: set[int] = set()
        self._lock = threading.Lock()
        self._fail_on = fail_on
        self._begin = begin

    def __call__(self, connection: Any) -> None:
        with self._lock:
            self.calls.append(connection)
            self.threads.add(threading.get_ident())
            number = len(self.calls)
        set_state(connection)
        if self._begin:
            if vendor_of(connection) == "postgresql":
                connection.autocommit = False
            else:
                execute(connection, "START TRANSACTION")
            execute(connection, "SELECT 1")
        if self._fail_on(number):
            raise HookFailed(f"the hook refused connection number {number}")

    def wait_for_calls(self, count: int) -> None:
        # PostgreSQL resets returned connections in psycopg_pool's worker thread.
        deadline = time.monotonic() + 5
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.calls) == count


def state(wrapper: Any, vendor: str) -> Any:
    with wrapper.cursor() as cursor:
        cursor.execute(GET_STATE[vendor])
        return cursor.fetchone()[0]


def closed(connection: Any) -> bool:
    if vendor_of(connection) == "postgresql":
        return bool(connection.closed)
    if hasattr(connection, "is_connected"):  # mysql-connector
        return connection._socket is None or not connection.is_connected()
    return not connection.open  # mysqlclient


def server_sessions_drop_to(probe: Probe, count: int) -> bool:
    deadline = time.monotonic() + 5
    while probe.count_connections(DATABASE) != count and time.monotonic() < deadline:
        time.sleep(0.02)
    return probe.count_connections(DATABASE) == count


@pytest.fixture
def configured(make_wrapper: Any) -> Any:
    """``make(hook, **pool)``: two wrappers on one pool (same alias and settings) with ``hook``."""

    def make(hook: Any, **options: Any) -> tuple[Any, Any]:
        options = {"min_size": 0, "max_size": 2, "timeout": 2, "configure": hook, **options}
        first = make_wrapper(settings={"name": DATABASE}, **options)
        second = make_wrapper(alias=first.alias, settings={"name": DATABASE}, **options)
        return first, second

    return make


RELEASES = pytest.mark.parametrize("release", ["request", "transaction"])


# -- what every checkout sees ------------------------------------------------------------


@RELEASES
def test_every_checkout_sees_what_configure_set(
    vendor: str, configured: Any, release: str
) -> None:
    hook = Hook()
    first, second = configured(hook, release=release)
    # Two physical connections: first holds one in a transaction, second needs another.
    first.set_autocommit(False)
    assert state(first, vendor) == STATE
    assert state(second, vendor) == STATE
    first.rollback()
    first.set_autocommit(True)
    seen = []
    for _ in range(10):
        seen += [state(first, vendor), state(second, vendor)]
        if release == "request":
            first.close()
            second.close()
    assert seen == [STATE] * 20
    first.close()
    second.close()
    # Once per physical connection, and only the pool's connections.
    stats = first.pool.stats()
    assert len(hook.calls) == len({id(c) for c in hook.calls}) == stats.connections_num == 2


@RELEASES
def test_configure_runs_once_per_physical_connection(
    vendor: str, configured: Any, release: str
) -> None:
    hook = Hook()
    wrapper, _ = configured(hook, max_size=1, release=release)
    for _ in range(25):
        assert state(wrapper, vendor) == STATE
        if release == "request":
            wrapper.close()
    wrapper.close()
    assert len(hook.calls) == 1
    assert wrapper.pool.stats().connections_num == 1
    # In the pool's connecting thread, not the request's.
    assert threading.get_ident() not in hook.threads


def test_a_dotted_path_is_imported_when_the_pool_is_built(vendor: str, configured: Any) -> None:
    wrapper, _ = configured(f"{__name__}.set_state", release="transaction")
    assert wrapper.pool._setup.hook is set_state  # imported when the pool was built
    assert state(wrapper, vendor) == STATE
    assert state(wrapper, vendor) == STATE


# -- reset="session" ----------------------------------------------------------------------


@RELEASES
def test_configure_runs_again_after_a_session_reset(
    vendor: str, configured: Any, release: str
) -> None:
    hook = Hook()
    wrapper, _ = configured(hook, max_size=1, reset="session", release=release)
    assert state(wrapper, vendor) == STATE
    with wrapper.cursor() as cursor:
        cursor.execute(SET_OTHER[vendor])  # a borrower's own session state
    wrapper.close()  # the return resets the session, then runs the hook again
    # release="transaction" returned (and reset) after each statement instead.
    returns = 1 if release == "request" else 2
    hook.wait_for_calls(1 + returns)
    assert state(wrapper, vendor) == STATE  # the borrower's state is gone, the hook's is back
    wrapper.close()
    hook.wait_for_calls(2 + returns)
    assert len({id(c) for c in hook.calls}) == 1  # reset in place: the same connection


# -- a hook that fails ------------------------------------------------------------------


@RELEASES
def test_a_failing_configure_gives_no_connection_and_says_why(
    vendor: str, configured: Any, probe: Probe, release: str, caplog: pytest.LogCaptureFixture
) -> None:
    hook = Hook(fail_on=lambda n: True)
    wrapper, _ = configured(hook, max_size=1, timeout=1.5, release=release)
    with (
        caplog.at_level(logging.WARNING, logger="django_multipool"),
        pytest.raises(PoolTimeout) as caught,
    ):
        wrapper.ensure_connection()
    message = str(caught.value)
    assert "the hook refused connection number" in message
    assert wrapper.connection is None
    pool = wrapper.pool
    assert pool.checked_out == 0
    assert pool.stats().connections_errors >= 1
    assert hook.calls and all(closed(c) for c in hook.calls)
    assert server_sessions_drop_to(probe, 0)
    logged = [r for r in caplog.records if "OPTIONS['pool']['configure']" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], HookFailed)  # with the hook's own traceback


def test_a_connection_whose_configure_failed_is_never_handed_out(
    vendor: str, configured: Any, probe: Probe
) -> None:
    hook = Hook(fail_on=lambda n: n == 1)  # sets the state, then fails: must not be lent
    wrapper, _ = configured(hook, max_size=1, timeout=10)
    wrapper.ensure_connection()  # the pool retries and opens another
    assert len(hook.calls) == 2
    refused, lent = hook.calls
    assert wrapper.connection is lent
    assert closed(refused)
    assert state(wrapper, vendor) == STATE
    wrapper.close()
    assert server_sessions_drop_to(probe, 1)


def test_a_configure_failing_after_a_session_reset_closes_that_connection(
    vendor: str, configured: Any
) -> None:
    hook = Hook(fail_on=lambda n: n == 2)  # the call after the first reset
    wrapper, _ = configured(hook, max_size=1, timeout=10, reset="session")
    wrapper.ensure_connection()
    first = wrapper.connection
    wrapper.close()
    assert state(wrapper, vendor) == STATE  # on a replacement
    assert wrapper.connection is not first
    wrapper.close()
    hook.wait_for_calls(4)  # open, failed reset, replacement, its reset
    assert hook.calls[:2] == [first, first] and closed(first)
    assert wrapper.pool.checked_out == 0


def test_configure_must_not_leave_a_transaction_open(vendor: str, configured: Any) -> None:
    wrapper, _ = configured(Hook(begin=True), max_size=1, timeout=1.5)
    with pytest.raises(PoolTimeout, match="must commit or roll back"):
        wrapper.ensure_connection()
    assert wrapper.pool.checked_out == 0
