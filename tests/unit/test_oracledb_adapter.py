"""The python-oracledb adapter with no Oracle server: mapping, validation, errors.

Everything here runs python-oracledb's real thin pool. Without a server it
can still be built and read back, and some of its real error paths need no
server: a refused port (connecting fails at once), a port that accepts and
never answers (the acquire wait runs out: DPY-4005), a closed pool
(DPY-1002), a resize (DPY-3001). What only a server can show — sessions,
pings, rollback, lifetime, idle shrinking — is in the contract suite
(tests/contract/), run when MULTIPOOL_ORACLE_DSN or Docker gives a server.
"""

from __future__ import annotations

import gc
import logging
import math
import select
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import oracledb
import pytest
from django.db import OperationalError

from django_multipool import (
    ConnectRefused,
    PoolClosed,
    PoolConfig,
    PoolConfigError,
    PoolError,
    PoolStats,
    PoolTimeout,
    TooManyRequests,
)
from django_multipool.adapters import oracledb as adapter_module
from django_multipool.adapters.oracledb import (
    OracledbPoolAdapter,
    error_code,
    milliseconds,
    pool_parameters,
    whole_seconds,
)

# Nothing listens on port 1: oracledb's connection attempts fail at once.
REFUSED = "127.0.0.1:1/nowhere"
PASSWORD = "tiger-Secret-42"
REPO = Path(__file__).resolve().parents[2]


def config(options: Any = True, **kwargs: Any) -> PoolConfig:
    return PoolConfig.from_options(options, alias="ora", **kwargs)


@pytest.fixture
def make_adapter() -> Iterator[Callable[..., OracledbPoolAdapter]]:
    """Build (and open, unless told not to) adapters; all closed after the test."""
    made: list[OracledbPoolAdapter] = []

    def make(
        dsn: str = REFUSED,
        *,
        open: bool = True,
        connect: dict[str, Any] | None = None,
        setup: Any = None,
        **pool: Any,
    ) -> OracledbPoolAdapter:
        adapter = OracledbPoolAdapter(
            config(pool or True),
            name="ora",
            connect_kwargs={"user": "scott", "password": PASSWORD, "dsn": dsn, **(connect or {})},
            setup=setup,
            label="oracle://scott@test",
        )
        made.append(adapter)
        if open:
            adapter.open()
        return adapter

    yield make
    for adapter in made:
        adapter.terminate(timeout=5)


@pytest.fixture
def unanswering_dsn(make_adapter: Any) -> Iterator[str]:
    """A port that accepts connections and never answers, like a database that hangs.

    oracledb's background thread then waits in its connection attempt, so an
    acquire really waits and oracledb's own timeout (DPY-4005) fires. Set up
    after ``make_adapter`` so the port closes first and frees that thread.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"127.0.0.1:{listener.getsockname()[1]}/nowhere"
    listener.close()


# -- the mapping ------------------------------------------------------------------------


def test_the_defaults_map_onto_oracledb() -> None:
    assert pool_parameters(PoolConfig()) == {
        "min": 1,
        "max": 10,
        "increment": 1,
        "getmode": oracledb.POOL_GETMODE_TIMEDWAIT,
        "wait_timeout": 30_000,
        "timeout": 600,
        "max_lifetime_session": 1800,
        "ping_interval": -1,
    }


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(None, 0), (0.5, 1), (1, 1), (1.2, 2), (600.0, 600), (59.9999999, 60), (1e-9, 1)],
)
def test_idle_and_lifetime_limits_are_whole_seconds_rounded_up(
    seconds: float | None, expected: int
) -> None:
    assert whole_seconds(seconds, "max_idle") == expected


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0.3, 300), (0.5, 500), (30, 30_000), (1e-4, 1), (1.0005, 1001)]
)
def test_the_acquire_wait_is_whole_milliseconds_rounded_up(seconds: float, expected: int) -> None:
    assert milliseconds(seconds, "timeout") == expected


def test_a_real_thin_pool_reads_back_every_mapped_value(make_adapter: Any) -> None:
    adapter = make_adapter(
        min_size=0,
        max_size=4,
        timeout=2.5,
        max_idle=0.5,
        max_lifetime=90.2,
        check=3,
        driver_options={"increment": 2, "stmtcachesize": 40},
    )
    pool = adapter._pool
    assert pool.thin and pool.homogeneous
    assert pool.getmode == oracledb.POOL_GETMODE_TIMEDWAIT  # never WAIT: it blocks forever
    assert pool.wait_timeout == 2500  # ms
    assert pool.timeout == 1  # oracledb's *idle* timeout, from max_idle
    assert pool.max_lifetime_session == 91
    assert pool.ping_interval == -1  # the adapter validates (see _must_validate)
    assert (pool.min, pool.max, pool.increment) == (0, 4, 2)
    assert pool.stmtcachesize == 40


def test_never_becomes_oracledbs_zero(make_adapter: Any) -> None:
    pool = make_adapter(min_size=0, max_idle=None, max_lifetime=None)._pool
    assert (pool.timeout, pool.max_lifetime_session) == (0, 0)


def test_min_size_zero_makes_no_connection_attempt(make_adapter: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    dsn = f"127.0.0.1:{listener.getsockname()[1]}/nowhere"
    try:
        make_adapter(dsn, min_size=0, max_size=2)
        time.sleep(0.3)
        assert select.select([listener], [], [], 0)[0] == []
        # The control: min_size=2 does knock, from oracledb's background thread.
        make_adapter(dsn, min_size=2, max_size=2)
        assert select.select([listener], [], [], 5)[0] == [listener]
    finally:
        listener.close()


def test_the_adapter_checks_with_its_own_pings_exactly() -> None:
    # oracledb's whole-second ping_interval would skip a connection idle 1.5 s
    # under check=1.5; the adapter compares the float itself.
    assert config({"check": 1.5}).check_interval == 1.5
    assert pool_parameters(config({"check": 1.5}))["ping_interval"] == -1
    assert pool_parameters(config({"check": True}))["ping_interval"] == -1


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "shared"),
    [
        ("min", "min_size"),
        ("max", "max_size"),
        ("getmode", "timeout"),
        ("wait_timeout", "timeout"),
        ("timeout", "max_idle"),
        ("max_lifetime_session", "max_lifetime"),
        ("ping_interval", "check"),
        ("session_callback", "configure"),
    ],
)
def test_driver_options_the_schema_sets_are_refused(
    make_adapter: Any, key: str, shared: str
) -> None:
    with pytest.raises(PoolConfigError) as caught:
        make_adapter(open=False, driver_options={key: 1})
    assert f"['driver_options'][{key!r}]" in str(caught.value)
    assert f"OPTIONS['pool'][{shared!r}]" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("homogeneous", "one USER"),
        ("pool_alias", "process-wide"),
        ("pool_boundary", "implicit connection pooling"),
        ("user", "DATABASES USER"),
        ("password", "DATABASES PASSWORD"),
        ("dsn", "NAME, HOST and PORT"),
    ],
)
def test_driver_options_we_cannot_honour_are_refused(
    make_adapter: Any, key: str, why: str
) -> None:
    with pytest.raises(PoolConfigError) as caught:
        make_adapter(open=False, driver_options={key: "x"})
    assert f"['driver_options'][{key!r}] is not accepted" in str(caught.value)
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("key", "advice"),
    [
        ("max", "OPTIONS['pool']['max_size']"),
        ("min", "OPTIONS['pool']['min_size']"),
        ("wait_timeout", "OPTIONS['pool']['timeout']"),
        ("getmode", "OPTIONS['pool']['timeout']"),
        ("timeout", "OPTIONS['pool']['max_idle']"),
        ("ping_interval", "OPTIONS['pool']['check']"),
        ("increment", "OPTIONS['pool']['driver_options']"),
        ("ping_timeout", "OPTIONS['pool']['driver_options']"),
        ("session_callback", "OPTIONS['pool']['configure']"),
        ("pool_alias", "OPTIONS['pool']['driver_options']"),
    ],
)
def test_pool_parameters_outside_options_pool_are_refused(
    make_adapter: Any, key: str, advice: str
) -> None:
    # Django's built-in Oracle pool reads them from OPTIONS; ours would let them
    # override the shared schema silently.
    with pytest.raises(PoolConfigError) as caught:
        make_adapter(open=False, connect={key: 1})
    assert f"OPTIONS[{key!r}] is a python-oracledb pool parameter" in str(caught.value)
    assert advice in str(caught.value)


def test_connect_parameters_pass_through(make_adapter: Any) -> None:
    adapter = make_adapter(min_size=0, connect={"tcp_connect_timeout": 3.0, "expire_time": 2})
    assert adapter._pool_kwargs["tcp_connect_timeout"] == 3.0


@pytest.mark.parametrize(
    ("options", "key"),
    [({"timeout": 5e6}, "timeout"), ({"max_lifetime": 5e9}, "max_lifetime")],
)
def test_values_beyond_oracledbs_range_are_refused_not_clamped(
    make_adapter: Any, options: dict[str, Any], key: str
) -> None:
    with pytest.raises(PoolConfigError, match=rf"\['{key}'\].*more than it can hold"):
        make_adapter(open=False, **options)


def test_thick_mode_is_refused(make_adapter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Switching this process to thick mode needs Oracle Client libraries and is
    # irreversible; pretend the switch happened.
    monkeypatch.setattr(oracledb, "is_thin_mode", lambda: False)
    with pytest.raises(PoolConfigError, match="thin mode"):
        make_adapter(open=False)


# -- DRCP -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "driver_options", "drcp"),
    [
        ("db.example.com:1521/FREEPDB1:pooled", {}, True),
        (
            "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=db)(PORT=1521))"
            "(CONNECT_DATA=(SERVICE_NAME=FREEPDB1)(SERVER=POOLED)))",
            {},
            True,
        ),
        ("db.example.com:1521/FREEPDB1", {"server_type": "pooled"}, True),
        ("db.example.com:1521/FREEPDB1", {}, False),
        ("an_alias_without_tnsnames", {}, False),
    ],
)
def test_drcp_is_recognised(
    make_adapter: Any, dsn: str, driver_options: dict[str, Any], drcp: bool
) -> None:
    adapter = make_adapter(dsn, open=False, driver_options=driver_options)
    assert adapter.uses_drcp is drcp


def test_drcp_settings_reach_the_driver_pool(
    make_adapter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "django_multipool"):
        adapter = make_adapter(
            "127.0.0.1:1/nowhere:pooled",
            min_size=0,
            driver_options={"cclass": "MYAPP", "purity": oracledb.PURITY_SELF},
        )
    assert adapter.uses_drcp and adapter._pool is not None
    assert adapter._pool_kwargs["cclass"] == "MYAPP"
    assert adapter._pool_kwargs["purity"] is oracledb.PURITY_SELF
    assert "connection class" not in caplog.text


@pytest.mark.parametrize(
    ("dsn", "warned"),
    [
        ("127.0.0.1:1/nowhere:pooled", True),
        ("127.0.0.1:1/nowhere:pooled?pool_connection_class=APP", False),
    ],
)
def test_drcp_without_a_connection_class_is_warned_about(
    make_adapter: Any, caplog: pytest.LogCaptureFixture, dsn: str, warned: bool
) -> None:
    with caplog.at_level(logging.WARNING, "django_multipool"):
        make_adapter(dsn, min_size=0)
    assert ("without a connection class" in caplog.text) is warned


# -- errors from the real driver ------------------------------------------------------------


def test_an_exhausted_wait_is_a_pool_timeout(make_adapter: Any, unanswering_dsn: str) -> None:
    adapter = make_adapter(unanswering_dsn, min_size=0, max_size=1, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(PoolTimeout) as caught:
        adapter.acquire()
    waited = time.monotonic() - started
    assert 0.25 <= waited <= 1.5
    assert isinstance(caught.value, OperationalError)
    assert "pool 'ora' after 0.30 s" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert adapter.stats().requests_errors == 1


def test_a_per_call_timeout_overrides_the_configured_one(
    make_adapter: Any, unanswering_dsn: str
) -> None:
    adapter = make_adapter(unanswering_dsn, min_size=0, max_size=1, timeout=30)
    started = time.monotonic()
    with pytest.raises(PoolTimeout, match=r"after 0\.20 s"):
        adapter.acquire(timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_a_full_wait_queue_refuses_at_once(make_adapter: Any, unanswering_dsn: str) -> None:
    adapter = make_adapter(unanswering_dsn, min_size=0, max_size=1, timeout=1, max_waiting=1)

    def wait_in_line() -> None:
        with pytest.raises(PoolTimeout):
            adapter.acquire()

    waiter = threading.Thread(target=wait_in_line)
    waiter.start()
    deadline = time.monotonic() + 5
    while adapter.stats().requests_waiting != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(TooManyRequests) as caught:
        adapter.acquire()
    assert time.monotonic() - started < 0.2
    assert isinstance(caught.value, OperationalError)
    assert "max_waiting" in str(caught.value)
    waiter.join(5)
    stats = adapter.stats()
    assert (stats.requests_num, stats.requests_queued, stats.requests_errors) == (2, 1, 2)


def test_a_closed_adapter_refuses(make_adapter: Any) -> None:
    adapter = make_adapter(min_size=0)
    adapter.close()
    assert adapter.closed
    with pytest.raises(PoolClosed):
        adapter.acquire()


def test_a_pool_closed_under_the_adapter_is_pool_closed(make_adapter: Any) -> None:
    # What oracledb raises itself (DPY-1002), e.g. after its exit handler ran.
    adapter = make_adapter(min_size=0)
    adapter._pool.close()
    with pytest.raises(PoolClosed):
        adapter.acquire()


def test_a_refused_connection_attempt_is_connect_refused_at_once(make_adapter: Any) -> None:
    # oracledb hands the failed attempt's error to the waiting caller; the
    # adapter names it as every vendor does (tests/reliability/test_down.py).
    adapter = make_adapter(REFUSED, min_size=0, max_size=1, timeout=5)
    for attempt in (1, 2):  # each request tries anew: nothing to restart
        started = time.monotonic()
        with pytest.raises(ConnectRefused) as caught:
            adapter.acquire()
        assert time.monotonic() - started < 2
        assert isinstance(caught.value, PoolTimeout) and isinstance(caught.value, OperationalError)
        assert caught.value.cause == "connection refused"
        assert error_code(caught.value.__cause__) == "DPY-6005"
        assert "DPY-6005" in str(caught.value) and "timeout (5.00 s)" in str(caught.value)
        assert PASSWORD not in "".join(traceback.format_exception(caught.value))
        stats = adapter.stats()
        assert (stats.connections_errors, stats.requests_errors) == (attempt, attempt)
    assert adapter.checked_out == 0


def test_a_refusal_within_a_per_call_timeout_is_not_retried(make_adapter: Any) -> None:
    adapter = make_adapter(REFUSED, min_size=0, max_size=1, timeout=30)
    started = time.monotonic()
    with pytest.raises(ConnectRefused):
        adapter.acquire(timeout=5)
    assert time.monotonic() - started < 2
    assert adapter.stats().connections_errors == 1  # one attempt, not one per loop


def test_a_host_that_does_not_exist_is_connect_refused(make_adapter: Any) -> None:
    try:
        socket.getaddrinfo("no-such-host.invalid", 1)
    except socket.gaierror as exc:
        if exc.errno != socket.EAI_NONAME:
            pytest.skip(f"the resolver did not say the name does not exist: {exc}")
    else:
        pytest.skip("no-such-host.invalid resolves here")
    adapter = make_adapter("no-such-host.invalid:1521/svc", min_size=0, max_size=1, timeout=5)
    with pytest.raises(ConnectRefused) as caught:
        adapter.acquire()
    assert caught.value.cause == "unknown host"
    assert isinstance(caught.value.__cause__, socket.gaierror)


def test_thin_mode_cannot_resize_and_says_so(make_adapter: Any) -> None:
    adapter = make_adapter(min_size=0, max_size=2)
    with pytest.raises(PoolError) as caught:
        adapter.resize(0, 4)
    assert "DPY-3001" in str(caught.value)
    assert "thin mode" in str(caught.value)
    assert "OPTIONS['pool']['min_size']" in str(caught.value)
    assert adapter._pool.max == 2


def test_error_codes_of_real_driver_errors(make_adapter: Any) -> None:
    adapter = make_adapter(min_size=0)
    pool = adapter._pool
    with pytest.raises(oracledb.NotSupportedError) as resize:
        pool.reconfigure(max=5)
    pool.close()
    with pytest.raises(oracledb.InterfaceError) as closed:
        pool.acquire()
    assert error_code(resize.value) == "DPY-3001"
    assert error_code(closed.value) == "DPY-1002"
    assert error_code(ValueError("no code")) is None


# -- stats, repr ---------------------------------------------------------------------------------


def test_stats_have_the_shared_keys(make_adapter: Any) -> None:
    stats = make_adapter(min_size=0, max_size=3).stats()
    assert isinstance(stats, PoolStats)
    assert (stats.pool_min, stats.pool_max, stats.pool_size, stats.pool_available) == (0, 3, 0, 0)
    assert set(stats.as_dict()) == set(PoolStats.__dataclass_fields__)


def test_a_closed_pool_reports_no_connections(make_adapter: Any) -> None:
    adapter = make_adapter(min_size=0)
    adapter.close()
    assert adapter.stats().pool_size == 0


def test_no_password_in_repr_or_config_errors(make_adapter: Any) -> None:
    adapter = make_adapter(min_size=0)
    assert PASSWORD not in repr(adapter)
    with pytest.raises(PoolConfigError) as caught:
        make_adapter(open=False, connect={"max": 1})
    assert PASSWORD not in str(caught.value)


# -- the adapter's own bookkeeping (stand-ins for the driver's session objects) -------------


class StandIn:
    """Only what the bookkeeping reads of an oracledb.Connection: its session object."""

    transaction_in_progress = False

    def __init__(self) -> None:
        self._impl = object()


def test_validation_follows_the_idle_time(make_adapter: Any) -> None:
    adapter = make_adapter(open=False, check=0.3)
    conn = StandIn()
    assert adapter._must_validate(conn)  # times unknown (pruned): validate
    adapter._on_new_session(conn, None)
    assert not adapter._must_validate(conn)  # opened for this checkout
    adapter._sessions[id(conn._impl)].returned = time.monotonic()
    assert not adapter._must_validate(conn)
    adapter._sessions[id(conn._impl)].returned = time.monotonic() - 0.31
    assert adapter._must_validate(conn)


@pytest.mark.parametrize(("check", "validates"), [(True, True), (0, True), (False, False)])
def test_check_true_and_false(make_adapter: Any, check: Any, validates: bool) -> None:
    adapter = make_adapter(open=False, check=check)
    conn = StandIn()
    adapter._on_new_session(conn, None)
    assert adapter._must_validate(conn) is validates


def test_a_new_session_is_counted_and_set_up_once(make_adapter: Any) -> None:
    seen: list[Any] = []
    adapter = make_adapter(open=False, setup=seen.append)
    conn = StandIn()
    adapter._on_new_session(conn, None)
    assert seen == [conn]
    assert adapter.stats().connections_num == 1


@pytest.mark.parametrize("failure", ["raises", "leaves-a-transaction"])
def test_a_new_session_whose_setup_fails_is_dropped_not_given_back(
    make_adapter: Any, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    # oracledb raises the callback's error from acquire(), and would give the
    # half-made connection's session back to its pool when the object is
    # freed; the adapter drops it instead. (Unit level: what oracledb does
    # with a dropped session needs a server, tests/contract.)
    class HookFailed(Exception):
        pass

    def setup(conn: Any) -> None:
        if failure == "raises":
            raise HookFailed("no setup")
        conn.transaction_in_progress = True  # as after an uncommitted INSERT

    dropped: list[Any] = []
    adapter = make_adapter(open=False, setup=setup)
    monkeypatch.setattr(adapter, "_drop", dropped.append)
    conn = StandIn()
    expected = HookFailed if failure == "raises" else oracledb.ProgrammingError
    with pytest.raises(expected) as caught:
        adapter._on_new_session(conn, None)
    assert dropped == [conn]
    assert id(conn._impl) not in adapter._sessions
    if failure != "raises":
        assert "must commit or roll back" in str(caught.value)


def test_on_drcp_the_setup_waits_for_each_checkout(make_adapter: Any) -> None:
    seen: list[Any] = []
    adapter = make_adapter("h:1/s:pooled", open=False, setup=seen.append)
    adapter._on_new_session(StandIn(), None)
    assert seen == []  # _checkout() runs it, every time


def test_session_times_are_pruned_to_the_lent_ones(make_adapter: Any) -> None:
    adapter = make_adapter(open=False, max_size=1)  # limit: 2 * 1 + 16 = 18
    lent = StandIn()
    adapter._on_new_session(lent, None)
    adapter._lend(lent)
    others = [StandIn() for _ in range(17)]  # kept alive: ids stay distinct
    for conn in others:
        adapter._on_new_session(conn, None)
    assert len(adapter._sessions) == 18
    newest = StandIn()
    adapter._on_new_session(newest, None)
    assert set(adapter._sessions) == {id(lent._impl), id(newest._impl)}


def test_a_late_connection_goes_back_when_the_caller_gave_up() -> None:
    handoff = adapter_module._Handoff()
    assert handoff.wait(0.01) is adapter_module._Handoff.GAVE_UP
    assert handoff.deliver("conn") is False  # the helper returns it to the pool

    handoff = adapter_module._Handoff()
    assert handoff.deliver("conn") is True
    assert handoff.wait(1) == "conn"

    handoff = adapter_module._Handoff()
    handoff.fail(PoolClosed("closed"))
    with pytest.raises(PoolClosed):
        handoff.wait(1)


# -- fork ----------------------------------------------------------------------------------------


def run_script(body: str, timeout: float = 60) -> str:
    script = textwrap.dedent(
        """
        import os, sys
        import django
        from django.conf import settings
        settings.configure()
        django.setup()
        import oracledb
        from django_multipool.config import PoolConfig
        from django_multipool.adapters import oracledb as module

        def adapter():
            a = module.OracledbPoolAdapter(
                PoolConfig.from_options({"min_size": 0, "max_size": 2}, alias="a"),
                name="a",
                connect_kwargs={"user": "u", "password": "p", "dsn": "127.0.0.1:1/x"},
            )
            a.open()
            return a
        """
    ) + textwrap.dedent(body)
    result = subprocess.run(
        # Python warns that fork() with threads running may deadlock: it is what
        # gunicorn --preload and Celery do, and what we make safe.
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# wait_for_the_driver_thread(): each script sleeps a moment between building a
# pool and fork(). oracledb's pool thread takes a process-wide lock of
# oracledb's as it starts; a fork() at that very instant leaves the lock held
# forever in the child, whose own pools then never start (an oracledb hazard
# we cannot reach: the lock is private to its compiled module). Real servers
# fork long after their pools started (gunicorn --preload, Celery prefork).


@pytest.mark.slow
def test_a_forked_child_neither_uses_the_parents_pool_nor_hangs_at_exit() -> None:
    out = run_script(
        """
        import time
        parent = adapter()
        time.sleep(0.2)  # see wait_for_the_driver_thread() below
        pid = os.fork()
        if pid == 0:
            inert = (
                parent.closed
                and parent._pool._impl is None
                and parent._pool in module._inherited
            )
            try:
                parent.acquire()
            except Exception as exc:
                refused = type(exc).__name__
            child = adapter()  # the child's own pool...
            print("child", inert, refused, child.closed, flush=True)
            sys.exit(0)  # ...closed at a normal exit, which must not hang
        _, status = os.waitpid(pid, 0)
        print("parent", parent.closed, os.waitstatus_to_exitcode(status), flush=True)
        """
    )
    assert "child True PoolClosed False" in out
    assert "parent False 0" in out


@pytest.mark.slow
def test_oracledb_alone_hangs_a_forked_child_at_exit() -> None:
    """Why _close_at_exit exists. If this starts failing, oracledb fixed it."""
    out = run_script(
        """
        import time
        # Referenced, as a registry holds pools (an unreferenced one closes itself).
        parent_pool = oracledb.create_pool(user="u", password="p", dsn="127.0.0.1:1/x", min=0)
        time.sleep(0.2)  # see wait_for_the_driver_thread() below
        pid = os.fork()
        if pid == 0:
            child_pool = oracledb.create_pool(user="u", password="p", dsn="127.0.0.1:1/x", min=0)
            sys.exit(0)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                print("exited", flush=True)
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            print("hung", flush=True)
        """
    )
    assert "hung" in out


def test_a_pool_made_inert_does_no_io(make_adapter: Any) -> None:
    adapter = make_adapter(min_size=0)
    driver_pool = adapter._pool
    # What a forked child does to each inherited pool (the whole fork is above).
    adapter_module._abandon_parents_pool(adapter)
    assert adapter.closed
    assert driver_pool._impl is None  # its __del__ no longer closes anything
    assert driver_pool in adapter_module._inherited
    with pytest.raises(PoolClosed):
        adapter.acquire()
    assert adapter.stats().pool_size == 0


def test_lifetime_is_shortened_by_up_to_5_percent(make_adapter: Any) -> None:
    adapter = make_adapter(open=False, max_lifetime=100)
    conns = [StandIn() for _ in range(30)]
    seen = set()
    for conn in conns:
        started = time.monotonic()
        adapter._on_new_session(conn, None)
        expires = adapter._sessions[id(conn._impl)].expires
        assert started + 95 <= expires <= time.monotonic() + 100
        seen.add(expires - started)
    assert len(seen) > 1


def test_no_lifetime_no_expiry(make_adapter: Any) -> None:
    adapter = make_adapter(open=False, max_lifetime=None)
    conn = StandIn()
    adapter._on_new_session(conn, None)
    assert adapter._sessions[id(conn._impl)].expires == math.inf


def test_a_lent_connection_is_held_and_no_callback_takes_the_lock(make_adapter: Any) -> None:
    # The ledger notices a dropped borrower; the adapter holds what it lent,
    # and nothing the garbage collector runs may wait for the adapter's lock.
    adapter = make_adapter(open=False)
    conn = StandIn()
    adapter._lend(conn)
    del conn
    finished = threading.Event()

    def collect_under_the_lock() -> None:
        with adapter._lock:
            gc.collect()
        finished.set()

    worker = threading.Thread(target=collect_under_the_lock, daemon=True)
    worker.start()
    assert finished.wait(5)
    assert len(adapter._lent) == 1


def test_holds_transaction_reads_the_drivers_flag(make_adapter: Any) -> None:
    adapter = make_adapter(open=False)
    conn = StandIn()
    conn.transaction_in_progress = True  # type: ignore[attr-defined]
    assert adapter.holds_transaction(conn)
    conn.transaction_in_progress = False  # type: ignore[attr-defined]
    assert not adapter.holds_transaction(conn)
