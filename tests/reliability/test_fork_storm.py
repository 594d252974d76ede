"""Guarantee 7: fork storms. No child ever uses a parent's socket; the parent's pools keep working.

The parent has three pools open and busy: a DatabaseWrapper holding its
connection inside an open transaction, an adapter with one connection lent
and the others cycling, and a third pool that three threads keep checking
out of while the main thread forks (so forks land mid-checkout, with pool
locks held). Then it forks 24 children in a row, and every third child forks
a grandchild. Each child and grandchild:

- queries through the inherited wrapper, which must build the child's own
  pool, and reports its server session id and its socket's local port;
- asks the inherited adapter for a connection (it must refuse with
  PoolClosed, not hand out one of the parent's), gives back the connection
  the parent had lent, and closes the adapter: none of that may send a byte
  on the parent's sockets.

What proves it is the server's view, not our code's: every reported session
must exist on the server with the client port the child saw on its own
socket, and none may be one of the parent's. Afterwards every session of the
parent must still be there, on the same port, and answer; its transaction
must still commit; its pools must not have lost or replaced a connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from django_multipool import PoolClosed

from ..driver_api import mysql_socket_fileno
from ..probes import Probe

pytestmark = pytest.mark.vendor

CHILDREN = 24
#: Every GRANDCHILD_EVERY-th child forks a grandchild after its own checkout.
GRANDCHILD_EVERY = 3
TABLE = "multipool_fork_tx"
#: Seconds the whole storm may take before the test gives up (and kills what it forked).
DEADLINE = 60.0


def local_port(conn: Any, vendor: str) -> int | None:
    """The local TCP port of a driver connection's socket, as this process sees it."""
    if vendor == "postgresql":
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
            return int(sock.getsockname()[1])
    if vendor == "mysql":
        with socket.socket(fileno=os.dup(mysql_socket_fileno(conn))) as sock:
            return int(sock.getsockname()[1])
    return None  # python-oracledb keeps its socket private: Oracle is checked by session id


def session_id(cursor_of: Callable[[], Any], probe: Probe) -> str:
    cursor = cursor_of()
    try:
        cursor.execute(probe.backend_id_sql)
        return str(cursor.fetchone()[0])
    finally:
        cursor.close()


@contextlib.contextmanager
def forking_with_threads() -> Iterator[None]:
    # Python warns that fork() in a threaded process may deadlock the child:
    # that hazard is exactly what this test runs into on purpose.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        yield


class Storm:
    """The parent side: forks, collects the children's reports, reaps them."""

    def __init__(self, vendor: str, probe: Probe, wrapper: Any, pool: Any, lent: Any) -> None:
        self.vendor, self.probe = vendor, probe
        self.wrapper, self.pool, self.lent = wrapper, pool, lent
        self.report_r, self.report_w = os.pipe()
        # Children block reading this until the parent has looked at the
        # server: their sessions must still be open then.
        self.go_r, self.go_w = os.pipe()
        self.pids: list[int] = []

    # -- in the children ---------------------------------------------------------

    def child(self, role: str, *, fork_grandchild: bool, grandchild: bool = False) -> None:
        """Runs in a forked process; never returns."""
        code = 1
        try:
            if not grandchild:  # a grandchild's parent closed it already
                os.close(self.go_w)  # else the parent's "go" (EOF) never arrives
            report = self.checkout_in_child(role)
            grandchild_pid = None
            if fork_grandchild:
                with forking_with_threads():
                    grandchild_pid = os.fork()
                if grandchild_pid == 0:
                    self.child(role + ">grandchild", fork_grandchild=False, grandchild=True)
            self.send(report)
            os.read(self.go_r, 1)  # EOF: the parent has looked
            self.wrapper.close()
            code = 0
            if grandchild_pid:
                _, status = os.waitpid(grandchild_pid, 0)
                code = 0 if os.waitstatus_to_exitcode(status) == 0 else 3
        except BaseException:
            self.send({"role": role, "pid": os.getpid(), "error": traceback.format_exc()})
        finally:
            os._exit(code)

    def checkout_in_child(self, role: str) -> dict[str, Any]:
        wrapper, pool = self.wrapper, self.pool
        report: dict[str, Any] = {"role": role, "pid": os.getpid()}
        # The wrapper held the parent's connection in a transaction at fork time.
        report["id"] = session_id(wrapper.cursor, self.probe)
        report["port"] = local_port(wrapper.connection, self.vendor)
        report["autocommit"] = wrapper.get_autocommit()
        report["pool_is_new"] = wrapper.pool is not pool
        try:
            conn = pool.acquire(timeout=1)
        except PoolClosed:
            report["inherited_acquire"] = "PoolClosed"
        else:  # a failure, with what it got for the report
            report["inherited_acquire"] = (
                f"got session {session_id(conn.cursor, self.probe)} "
                f"on port {local_port(conn, self.vendor)}"
            )
        # Giving back what the parent had lent, and closing: no I/O allowed.
        with contextlib.suppress(Exception):
            pool.release(self.lent)
        pool.close()
        return report

    def send(self, report: dict[str, Any]) -> None:
        line = (json.dumps(report) + "\n").encode()
        os.write(self.report_w, line[: select.PIPE_BUF])  # one write: atomic

    # -- in the parent -----------------------------------------------------------

    def fork_children(self) -> None:
        for number in range(CHILDREN):
            with forking_with_threads():
                pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's coverage is not collected
                self.child(f"child{number}", fork_grandchild=number % GRANDCHILD_EVERY == 0)
            self.pids.append(pid)
        os.close(self.go_r)

    def collect(self, expected: int) -> list[dict[str, Any]]:
        os.close(self.report_w)
        reports: list[dict[str, Any]] = []
        buffer = b""
        deadline = time.monotonic() + DEADLINE
        while len(reports) < expected:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.report_r], [], [], max(0.0, left))
            if not ready:
                raise AssertionError(f"only {len(reports)} of {expected} reports: {reports}")
            chunk = os.read(self.report_r, 65536)
            if not chunk:
                raise AssertionError(f"children exited after {len(reports)} reports: {reports}")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            reports += [json.loads(line) for line in lines if line]
        return reports

    def release_and_reap(self) -> list[int]:
        os.close(self.go_w)
        codes = []
        deadline = time.monotonic() + DEADLINE
        for pid in self.pids:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes.append(os.waitstatus_to_exitcode(status))
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)  # ours: forked above
                    os.waitpid(pid, 0)
                    codes.append(-signal.SIGKILL)
                    break
                time.sleep(0.01)
        os.close(self.report_r)
        return codes

    def kill_all(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def test_fork_storm_never_shares_a_socket_and_leaves_the_parent_working(
    vendor: str, make_wrapper: Any, make_pool: Any, probe: Probe
) -> None:
    probe.execute_in_test_db(f"DROP TABLE IF EXISTS {TABLE}")
    probe.execute_in_test_db(f"CREATE TABLE {TABLE} (id INT PRIMARY KEY)")

    # Pool 1: a wrapper holding its only connection inside an open transaction.
    wrapper = make_wrapper(min_size=1, max_size=1)
    wrapper.set_autocommit(False)
    with wrapper.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} VALUES (1)")
    wrapper_session = session_id(wrapper.cursor, probe)

    # Pool 2: an adapter with one connection lent, its others idle.
    pool = make_pool(min_size=3, max_size=3, timeout=10)
    conns = [pool.acquire() for _ in range(3)]
    pool_sessions = {session_id(c.cursor, probe) for c in conns}
    lent = conns.pop()
    lent_session = session_id(lent.cursor, probe)
    for conn in conns:
        pool.release(conn)

    # Pool 3: threads checking out of it, and of pool 2, all through the storm.
    busy_alias = f"fork-busy-{vendor}"
    busy_wrappers = [make_wrapper(alias=busy_alias, min_size=2, max_size=2) for _ in range(3)]
    for busy in busy_wrappers:
        busy.inc_thread_sharing()  # made here, used by a thread, closed here after the test
    stop, errors = threading.Event(), []

    def keep_checking_out(busy: Any) -> None:
        try:
            while not stop.is_set():
                with busy.cursor() as cursor:
                    cursor.execute("SELECT 1")
                busy.close()
                conn = pool.acquire()
                try:
                    session_id(conn.cursor, probe)
                finally:
                    pool.release(conn)
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=keep_checking_out, args=(w,)) for w in busy_wrappers]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    busy_pool = busy_wrappers[0].pool
    parent = probe.sessions()
    assert len(parent) == 1 + 3 + 2, parent
    before = (pool.stats(), busy_pool.stats())

    storm = Storm(vendor, probe, wrapper, pool, lent)
    grandchildren = len(range(0, CHILDREN, GRANDCHILD_EVERY))
    try:
        storm.fork_children()
        reports = storm.collect(CHILDREN + grandchildren)
        server = probe.sessions()  # while every child still holds its session
    except BaseException:
        storm.kill_all()
        raise
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    codes = storm.release_and_reap()

    assert errors == []
    assert [r for r in reports if "error" in r] == []
    assert codes == [0] * CHILDREN
    ids = [r["id"] for r in reports]
    assert len(set(ids)) == len(ids), "two processes shared a session"
    for report in reports:
        assert report["inherited_acquire"] == "PoolClosed", report
        assert report["pool_is_new"] and report["autocommit"] is True, report
        assert report["id"] not in parent, f"{report['role']} used a session of the parent"
        assert report["id"] in server, report
        if report["port"] is not None:
            # The server's view of the session the child queried is the socket
            # the child holds, and that socket is none of the parent's.
            assert server[report["id"]] == report["port"], report
            assert report["port"] not in parent.values(), report

    # The parent: every session still there, on the same port, and answering.
    after = probe.sessions()
    assert {i: after.get(i) for i in parent} == parent
    with wrapper.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} VALUES (2)")
    assert session_id(wrapper.cursor, probe) == wrapper_session
    wrapper.commit()
    wrapper.set_autocommit(True)
    assert probe.execute_in_test_db(f"SELECT id FROM {TABLE} ORDER BY id") == [(1,), (2,)]
    assert session_id(lent.cursor, probe) == lent_session
    pool.release(lent)
    conns = [pool.acquire() for _ in range(3)]
    assert {session_id(c.cursor, probe) for c in conns} == pool_sessions
    for conn in conns:
        pool.release(conn)
    for stats_before, adapter in zip(before, (pool, busy_pool), strict=True):
        stats = adapter.stats()
        assert stats.connections_lost == 0
        assert stats.connections_num == stats_before.connections_num, "a connection was replaced"
