"""A database that is down fails fast, and the pool recovers by itself.

When no connection is idle and the server refuses a new one (nothing
listens, the login is refused), the caller gets ``ConnectRefused`` — a
``PoolTimeout``, so a ``django.db.OperationalError`` — after that one
attempt, not after ``timeout``; its message names the cause and holds no
password. The first request after the server is back gets a connection,
with nothing restarted. What is slow rather than refused (a server that
accepts and never answers) is waited for, up to ``timeout``, as before, and
connections the pool still holds are served meanwhile.

The server going down is played by a proxy whose port stops listening
(tests/reliability/proxy.py, ``refuse()``/``admit()``).
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

import pytest
from django.db import OperationalError

from django_multipool import ConnectRefused, PoolTimeout
from django_multipool.errors import AUTHENTICATION_FAILED, CONNECTION_REFUSED

from ..probes import Probe
from ..servers import Server
from .load import run, through, wait_until
from .proxy import FaultyProxy

pytestmark = [pytest.mark.vendor, pytest.mark.timeout(90)]

#: The pool's timeout: what a refused request must not wait.
TIMEOUT = 10.0
#: A refused request's error comes well within the timeout: one attempt, plus
#: up to half a second until it starts, plus scheduling noise.
FAST = 3.0
USER = "multipool_down"
PASSWORD = "Down7Secret3Pw"


@pytest.fixture
def login(probe: Probe) -> dict[str, Any]:
    """DATABASES overrides that log in as a login of the test's own, with a password."""
    probe.create_login(USER, PASSWORD)
    return {"USER": USER, "PASSWORD": PASSWORD}


def ping_sql(vendor: str) -> str:
    return "SELECT 1 FROM DUAL" if vendor == "oracle" else "SELECT 1"


def timed(call: Any) -> tuple[float, BaseException | None]:
    began = time.monotonic()
    try:
        conn = call()
    except Exception as exc:
        return time.monotonic() - began, exc
    raise AssertionError(f"{call} returned {conn!r}")


def assert_refused(error: BaseException | None, cause: str, waited: float) -> None:
    assert isinstance(error, ConnectRefused), repr(error)
    assert isinstance(error, PoolTimeout) and isinstance(error, OperationalError)
    assert error.cause == cause
    assert f"({cause})" in str(error) and "Connecting fails with:" in str(error)
    assert waited < FAST < TIMEOUT, f"{waited:.2f} s, timeout {TIMEOUT} s"
    everything = "".join(traceback.format_exception(error))
    assert PASSWORD not in everything


def serves(pool: Any, vendor: str) -> bool:
    conn = pool.acquire()
    try:
        run(conn, ping_sql(vendor))
        return True
    finally:
        pool.release(conn)


def test_a_refused_server_fails_fast_and_the_next_request_after_it_is_back_succeeds(
    vendor: str,
    server: Server,
    proxy: FaultyProxy,
    login: dict[str, Any],
    pool_on: Any,
    wrapper_on: Any,
) -> None:
    proxy.refuse()
    settings = {**through(proxy, server), **login}
    pool = pool_on(server, settings=settings, min_size=1, max_size=4, timeout=TIMEOUT)

    # One request after another, each answered by an attempt of its own.
    figures = []
    for _ in range(3):
        waited, error = timed(pool.acquire)
        assert_refused(error, CONNECTION_REFUSED, waited)
        figures.append(waited)

    # Requests at the same moment: every one is answered as fast.
    outcomes: list[tuple[float, BaseException | None]] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(timed(pool.acquire))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT + 5)
    assert len(outcomes) == 4
    for waited, error in outcomes:
        assert_refused(error, CONNECTION_REFUSED, waited)

    # Through Django, as a view sees it.
    wrapper = wrapper_on(server, settings=settings, min_size=0, max_size=1, timeout=TIMEOUT)
    waited, error = timed(wrapper.ensure_connection)
    assert_refused(error, CONNECTION_REFUSED, waited)

    proxy.admit()
    began = time.monotonic()
    assert serves(pool, vendor)  # the very next request, nothing restarted
    back_in = time.monotonic() - began
    assert back_in < FAST, back_in
    wrapper.ensure_connection()
    assert pool.checked_out == 0
    print(
        f"\n{vendor} refused: ConnectRefused after "
        f"{', '.join(f'{w:.2f}' for w in figures)} s (timeout {TIMEOUT} s), "
        f"4 at once after {max(w for w, _ in outcomes):.2f} s at most; "
        f"first request after the server was back served in {back_in:.2f} s"
    )


def test_a_refused_login_fails_fast(
    vendor: str, server: Server, login: dict[str, Any], pool_on: Any
) -> None:
    if vendor == "postgresql":
        # Loopback trusts every password here: a login that does not exist is refused.
        refused = {"USER": "multipool_no_such_role", "PASSWORD": PASSWORD}
    else:
        refused = {**login, "PASSWORD": PASSWORD + "Wrong"}
    pool = pool_on(server, settings=refused, min_size=0, max_size=2, timeout=TIMEOUT)
    for _ in range(2):
        waited, error = timed(pool.acquire)
        assert_refused(error, AUTHENTICATION_FAILED, waited)


def test_idle_connections_are_still_served_while_new_ones_are_refused(
    vendor: str, server: Server, proxy: FaultyProxy, login: dict[str, Any], pool_on: Any
) -> None:
    settings = {**through(proxy, server), **login}
    pool = pool_on(server, settings=settings, min_size=1, max_size=4, timeout=TIMEOUT, check=False)
    assert serves(pool, vendor)
    assert wait_until(lambda: pool.stats().pool_available >= 1)
    proxy.refuse()  # connections already open are carried on

    idle = pool.stats().pool_available
    assert 1 <= idle < 4
    held = [pool.acquire() for _ in range(idle)]
    for conn in held:
        run(conn, ping_sql(vendor))
    # With none idle, the next request needs a new connection: refused, fast.
    waited, error = timed(pool.acquire)
    assert_refused(error, CONNECTION_REFUSED, waited)
    for conn in held:
        pool.release(conn)
    # Given back, they are served again.
    assert serves(pool, vendor) and serves(pool, vendor)
    proxy.admit()


def test_a_stalled_server_is_waited_for_up_to_timeout(
    vendor: str, server: Server, proxy: FaultyProxy, login: dict[str, Any], pool_on: Any
) -> None:
    """Slow is not refused: the request waits, as it did before."""
    timeout = 1.0
    settings = {**through(proxy, server), **login}
    pool = pool_on(server, settings=settings, min_size=0, max_size=1, timeout=timeout)
    with proxy.stalled():
        waited, error = timed(pool.acquire)
    assert isinstance(error, PoolTimeout) and not isinstance(error, ConnectRefused), repr(error)
    assert waited >= timeout * 0.9, waited


def test_psycopg_pool_recovers_after_giving_a_connection_up(
    vendor: str, server: Server, proxy: FaultyProxy, login: dict[str, Any], pool_on: Any
) -> None:
    """psycopg_pool gives a slot up after reconnect_timeout of failed retries."""
    if vendor != "postgresql":
        pytest.skip("reconnect_timeout is psycopg_pool's")
    proxy.refuse()
    settings = {**through(proxy, server), **login}
    pool = pool_on(
        server,
        settings=settings,
        min_size=1,
        max_size=2,
        timeout=TIMEOUT,
        driver_options={"reconnect_timeout": 1.0},
    )
    given_up = time.monotonic() + 2.5
    while time.monotonic() < given_up:
        waited, error = timed(pool.acquire)
        assert_refused(error, CONNECTION_REFUSED, waited)
    proxy.admit()
    began = time.monotonic()
    assert serves(pool, vendor)
    assert time.monotonic() - began < FAST
