"""A database that is down fails fast: what counts as "refused", and the core's rules.

Each adapter classifies its driver's connect errors (``refusal()``); these
tests give them the drivers' own exception objects: the real ones where no
server is needed to get them (a refused port, a name that does not exist, a
port that accepts and never answers), built with the driver's classes where
only a server could send them (a refused login; tests/reliability/test_down.py
gets real ones from PostgreSQL and MariaDB). Then the core
(django_multipool/_pool.py), with a scripted driver: who is failed by a
refused attempt, who waits, and how soon it recovers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from django_multipool import ConnectRefused, PoolConfig, PoolTimeout
from django_multipool._pool import _RETRY_FIRST, Pool
from django_multipool.errors import (
    AUTHENTICATION_FAILED,
    CONNECTION_REFUSED,
    UNKNOWN_HOST,
    os_refusal,
)

from .stand_in_driver import NullDriver

NO_SUCH_HOST = "no-such-host.invalid"


@pytest.fixture(scope="module")
def refused_port() -> int:
    with socket.socket() as sock:  # bound, then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections and never answers: slow, not refused."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def full_backlog_port() -> Iterator[int]:
    """A listener whose queue is full: new connections get no SYN-ACK and time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


@pytest.fixture(scope="module")
def no_such_host() -> str:
    try:
        socket.getaddrinfo(NO_SUCH_HOST, 1)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            return NO_SUCH_HOST
        pytest.skip(f"the resolver did not say {NO_SUCH_HOST} does not exist: {exc}")
    pytest.skip(f"{NO_SUCH_HOST} resolves here")


def raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError(f"{call} raised nothing")


def test_os_errors_under_a_driver_error() -> None:
    def wrapped(cause: BaseException) -> BaseException:
        try:
            raise RuntimeError("the driver's own") from cause
        except RuntimeError as exc:
            return exc

    assert os_refusal(wrapped(ConnectionRefusedError(111, "Connection refused"))) == (
        CONNECTION_REFUSED
    )
    assert os_refusal(wrapped(socket.gaierror(socket.EAI_NONAME, "no such name"))) == UNKNOWN_HOST
    # A name server that did not answer may answer the next time.
    assert os_refusal(wrapped(socket.gaierror(socket.EAI_AGAIN, "try again"))) is None
    assert os_refusal(wrapped(TimeoutError("timed out"))) is None
    assert os_refusal(ValueError("nothing under it")) is None


# -- psycopg ------------------------------------------------------------------------------


def test_psycopg_refusals(refused_port: int, no_such_host: str, silent_port: int) -> None:
    psycopg = pytest.importorskip("psycopg")
    from django_multipool.adapters.psycopg import refusal

    def connect(host: str, port: int) -> BaseException:
        return raised(lambda: psycopg.connect(host=host, port=port, connect_timeout=2))

    assert refusal(connect("127.0.0.1", refused_port)) == CONNECTION_REFUSED
    assert refusal(connect(no_such_host, 5432)) == UNKNOWN_HOST
    stalled = connect("127.0.0.1", silent_port)
    assert isinstance(stalled, psycopg.errors.ConnectionTimeout)
    assert refusal(stalled) is None


@pytest.mark.parametrize(
    ("server_said", "cause"),
    [
        ('FATAL:  password authentication failed for user "shop"', AUTHENTICATION_FAILED),
        ('FATAL:  role "shop" does not exist', AUTHENTICATION_FAILED),
        (
            'FATAL:  no pg_hba.conf entry for host "10.0.0.7", user "shop", database "shop"',
            AUTHENTICATION_FAILED,
        ),
        ("fe_sendauth: no password supplied", AUTHENTICATION_FAILED),
        ('FATAL:  database "shop" does not exist', None),
        ("FATAL:  sorry, too many clients already", None),
        ("FATAL:  the database system is starting up", None),
        ("server closed the connection unexpectedly", None),
    ],
)
def test_psycopg_refusals_the_server_sends(server_said: str, cause: str | None) -> None:
    # What psycopg raises when the server answers the login with an error
    # (the message libpq builds; psycopg gives no SQLSTATE for it).
    psycopg = pytest.importorskip("psycopg")
    from django_multipool.adapters.psycopg import refusal

    error = psycopg.OperationalError(
        f'connection failed: connection to server at "10.0.0.5", port 5432 failed: {server_said}'
    )
    assert refusal(error) == cause


# -- mysql-connector ------------------------------------------------------------------------


def test_mysql_connector_refusals(refused_port: int, no_such_host: str, silent_port: int) -> None:
    mysql_connector = pytest.importorskip("mysql.connector")
    from django_multipool.adapters.mysql_connector import refusal

    def connect(host: str, port: int) -> BaseException:
        return raised(
            lambda: mysql_connector.connect(
                host=host, port=port, use_pure=True, connection_timeout=1
            )
        )

    refused = connect("127.0.0.1", refused_port)
    assert refused.errno == 2003 and refusal(refused) == CONNECTION_REFUSED
    unknown = connect(no_such_host, 3306)
    assert refusal(unknown) == UNKNOWN_HOST
    assert refusal(connect("127.0.0.1", silent_port)) is None
    # 2003 also says "timed out": not a refusal.
    try:
        raise mysql_connector.errors.InterfaceError(errno=2003) from TimeoutError("timed out")
    except mysql_connector.Error as exc:
        assert refusal(exc) is None
    # What the server sends (tests/reliability/test_down.py gets a real 1045).
    errors = mysql_connector.errors
    assert refusal(errors.ProgrammingError(errno=1045, sqlstate="28000")) == AUTHENTICATION_FAILED
    assert refusal(errors.ProgrammingError(errno=1044, sqlstate="42000")) == AUTHENTICATION_FAILED
    assert refusal(errors.DatabaseError(errno=1130)) == AUTHENTICATION_FAILED
    assert refusal(errors.InterfaceError(errno=2005)) == UNKNOWN_HOST
    assert refusal(errors.DatabaseError(errno=1040)) is None  # too many connections
    assert refusal(errors.ProgrammingError(errno=1049)) is None  # unknown database
    assert refusal(ConnectionRefusedError()) is None  # not the driver's


# -- mysqlclient ----------------------------------------------------------------------------


def test_mysqlclient_refusals(
    refused_port: int, no_such_host: str, silent_port: int, full_backlog_port: int
) -> None:
    MySQLdb = pytest.importorskip("MySQLdb")
    from django_multipool.adapters.mysqlclient import _MySQLdbDriver, refusal

    def connect(host: str, port: int) -> BaseException:
        driver = _MySQLdbDriver(
            {"host": host, "port": port, "connect_timeout": 1},
            None,
            session_reset=False,
            round_trip_limit=1,
        )
        return raised(driver.connect)

    refused = connect("127.0.0.1", refused_port)
    assert refused.args[0] in (2002, 2003) and refusal(refused) == CONNECTION_REFUSED
    assert refusal(connect(no_such_host, 3306)) == UNKNOWN_HOST
    assert refusal(connect("127.0.0.1", silent_port)) is None  # the handshake never came
    # The C library says "Can't connect" for a connect that timed out too.
    timed_out = connect("127.0.0.1", full_backlog_port)
    assert timed_out.args[0] in (2002, 2003) and refusal(timed_out) is None
    # What the server sends (tests/reliability/test_down.py gets a real 1045).
    errors = MySQLdb
    assert refusal(errors.OperationalError(1045, "Access denied")) == AUTHENTICATION_FAILED
    assert refusal(errors.OperationalError(1044, "Access denied")) == AUTHENTICATION_FAILED
    assert refusal(errors.OperationalError(1130, "Host is not allowed")) == AUTHENTICATION_FAILED
    assert refusal(errors.OperationalError(1040, "Too many connections")) is None
    assert refusal(errors.OperationalError(1049, "Unknown database")) is None
    assert refusal(errors.OperationalError(2003, "Can't connect")) is None  # not timed: unknown
    assert refusal(ConnectionRefusedError()) is None  # not the driver's


# -- python-oracledb --------------------------------------------------------------------------


def test_oracledb_refusals(refused_port: int, no_such_host: str, full_backlog_port: int) -> None:
    oracledb = pytest.importorskip("oracledb")
    from django_multipool.adapters.oracledb import refusal

    def connect(host: str, port: int) -> BaseException:
        return raised(
            lambda: oracledb.connect(
                user="scott", password="tiger", dsn=f"{host}:{port}/svc", tcp_connect_timeout=1
            )
        )

    assert refusal(connect("127.0.0.1", refused_port)) == CONNECTION_REFUSED
    unknown = connect(no_such_host, 1521)
    assert isinstance(unknown, socket.gaierror)  # thin mode does not wrap it
    assert refusal(unknown) == UNKNOWN_HOST
    # (A port that accepts and never answers would hang oracledb.connect():
    # tcp_connect_timeout bounds the TCP connect only.)
    timed_out = connect("127.0.0.1", full_backlog_port)
    assert isinstance(timed_out.__cause__, TimeoutError)  # DPY-6005 too
    assert refusal(timed_out) is None


@pytest.mark.parametrize(
    ("message", "code", "cause"),
    [
        ("ORA-01017: invalid credential or not authorized; logon denied", 1017, "auth"),
        ("ORA-28000: The account is locked.", 28000, "auth"),
        ("ORA-01045: Login denied. User SHOP lacks CREATE SESSION privilege.", 1045, "auth"),
        ("ORA-12516: TNS:listener could not find available handler", 12516, None),
    ],
)
def test_oracledb_refusals_the_server_sends(message: str, code: int, cause: str | None) -> None:
    # Built as oracledb's thin mode builds an error the server sent.
    oracledb = pytest.importorskip("oracledb")
    from oracledb.errors import _Error

    from django_multipool.adapters.oracledb import refusal

    error = _Error(message, code=code)
    exc = error.exc_type(error)
    assert refusal(exc) == (AUTHENTICATION_FAILED if cause else None)
    assert isinstance(exc, oracledb.DatabaseError)


# -- the core -----------------------------------------------------------------------------------


class Conn:
    pass


class ScriptedDriver(NullDriver):
    """Connects, or raises ``self.failure`` (classified by ``self.refused``)."""

    def __init__(self, failure: BaseException | None, *, refused: bool) -> None:
        self.failure = failure
        self.refused = refused
        self.attempts = 0

    def connect(self) -> Conn:
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        return Conn()

    def refusal(self, exc: BaseException) -> str | None:
        return CONNECTION_REFUSED if self.refused else None


SECRET = "Core5Secret8Pw"


@pytest.fixture
def core() -> Iterator[Any]:
    pools: list[Pool[Conn]] = []

    def make(driver: ScriptedDriver, **options: Any) -> Pool[Conn]:
        pool: Pool[Conn] = Pool(driver, PoolConfig(**options), name="core", secrets=[SECRET])
        pool.open()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def timed_acquire(pool: Pool[Conn]) -> tuple[float, Any]:
    began = time.monotonic()
    try:
        result: Any = pool.acquire()
    except Exception as exc:
        result = exc
    return time.monotonic() - began, result


def test_a_refusal_fails_the_waiters_at_once_and_names_the_cause(core: Any) -> None:
    failure = ConnectionRefusedError(111, f"Connection refused (password={SECRET})")
    pool = core(ScriptedDriver(failure, refused=True), min_size=0, max_size=3, timeout=10)
    outcomes: list[tuple[float, Any]] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(timed_acquire(pool))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    for waited, error in outcomes:
        assert isinstance(error, ConnectRefused), error
        assert waited < 2, waited
        assert error.cause == CONNECTION_REFUSED and error.__cause__ is failure
        assert "(connection refused)" in str(error) and SECRET not in str(error)
        assert "timeout (10.00 s)" in str(error)
    stats = pool.stats()
    assert (stats.requests_errors, stats.requests_waiting) == (3, 0)


def test_slow_failures_are_waited_for(core: Any) -> None:
    pool = core(ScriptedDriver(TimeoutError("timed out"), refused=False), min_size=0, timeout=0.5)
    waited, error = timed_acquire(pool)
    assert isinstance(error, PoolTimeout) and not isinstance(error, ConnectRefused)
    assert waited >= 0.45


def test_while_the_server_refuses_each_request_gets_a_new_attempt_not_the_backoff(
    core: Any,
) -> None:
    driver = ScriptedDriver(ConnectionRefusedError(), refused=True)
    pool = core(driver, min_size=1, max_size=2, timeout=30)
    for _ in range(6):  # the background backoff would be 0.5, 1, 2, 4, 8 s by now
        waited, error = timed_acquire(pool)
        assert isinstance(error, ConnectRefused)
        assert waited <= _RETRY_FIRST + 0.5, waited
    driver.failure = None  # the server is back: the very next request is served
    waited, conn = timed_acquire(pool)
    assert isinstance(conn, Conn), conn
    assert waited <= _RETRY_FIRST + 0.5, waited
    pool.release(conn)


def test_an_idle_connection_is_served_while_new_ones_are_refused(core: Any) -> None:
    driver = ScriptedDriver(None, refused=True)
    pool = core(driver, min_size=1, max_size=2, timeout=30)
    conn = pool.acquire()
    pool.release(conn)
    driver.failure = ConnectionRefusedError()
    assert pool.acquire() is conn
    waited, error = timed_acquire(pool)  # none idle now
    assert isinstance(error, ConnectRefused) and waited < 2
    pool.release(conn)
    assert pool.acquire() is conn
    pool.release(conn)


def test_tripwire_the_psycopg_pool_internals_the_adapter_relies_on() -> None:
    """Tripwire: the psycopg adapter's refusal handling hooks psycopg_pool's internals.

    _LifoConnectionPool (django_multipool/adapters/psycopg.py) expects a client
    to queue and _maybe_grow_pool() to run under one hold of _lock, a failed
    attempt to be retried through schedule_task(AddConnection(...)), and
    reconnect_failed() to be called when a slot is given up. If a
    psycopg_pool release changes any of that, review the adapter.
    """
    pytest.importorskip("psycopg_pool")
    import inspect

    from psycopg_pool.pool import AddConnection, ConnectionPool, WaitingClient

    queueing = inspect.getsource(ConnectionPool._getconn_unchecked)
    locked = queueing.split("with self._lock:", 1)[1].split("if not conn:", 1)[0]
    assert "self._waiting.append(pos)" in locked and "self._maybe_grow_pool()" in locked
    adding = inspect.getsource(ConnectionPool._add_connection)
    assert "conn = self._connect()" in adding
    flat = " ".join(adding.split())
    assert "self.schedule_task( AddConnection(self, attempt, growing=growing)" in flat
    assert "self.reconnect_failed()" in adding
    assert {"conn", "error"} <= set(WaitingClient.__slots__) and callable(WaitingClient.fail)
    assert set(inspect.signature(AddConnection).parameters) == {"pool", "attempt", "growing"}
