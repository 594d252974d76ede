"""A PgBouncer of the test run's own, in front of the test PostgreSQL.

Debian's ``pgbouncer`` package, started on a free loopback port with a
generated ini and userlist (trust auth, as the test servers have) and a
wildcard database entry, so every database the tests create is reachable
through it. Used by the tests that run our ENGINE behind PgBouncer
(``MULTIPOOL_PGBOUNCER=transaction|session``, see tests/conftest.py) and by
``tests/django_suite/run.py --behind-pgbouncer``.

Where the binary is missing the tests skip with what to install, except in
CI (``CI=true``) or when ``MULTIPOOL_REQUIRE`` names ``pgbouncer``: there
they fail, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .servers import Server

MODES = ("transaction", "session")
#: The server connections PgBouncer may open per database and user.
POOL_SIZE = 20


def binary() -> str | None:
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )


def required() -> bool:
    """Whether a missing pgbouncer must fail the run rather than skip."""
    return os.environ.get("CI", "").lower() == "true" or mode_from_environment() is not None


def missing_reason() -> str:
    return (
        "no pgbouncer binary: install Debian's package (apt-get install pgbouncer) "
        "or PgBouncer from https://www.pgbouncer.org"
    )


def version() -> tuple[int, ...]:
    """The installed pgbouncer's version, e.g. (1, 18, 0)."""
    path = binary()
    assert path is not None
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    # "PgBouncer 1.18.0" (first line), then the libraries it was built with.
    return tuple(int(part) for part in out.split()[1].split("."))


def mode_from_environment() -> str | None:
    """``MULTIPOOL_PGBOUNCER``: run the PostgreSQL tests through a PgBouncer in this mode."""
    mode = os.environ.get("MULTIPOOL_PGBOUNCER", "").strip()
    if not mode:
        return None
    if mode not in MODES:
        raise ValueError(f"MULTIPOOL_PGBOUNCER={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgBouncer:
    """``pgbouncer`` in ``mode`` in front of ``target``, until :meth:`stop`."""

    def __init__(self, target: Server, mode: str, *, pool_size: int = POOL_SIZE) -> None:
        if mode not in MODES:
            raise ValueError(f"PgBouncer mode {mode!r}: expected one of {', '.join(MODES)}")
        self.target, self.mode, self.pool_size = target, mode, pool_size
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="multipool-pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def server(self) -> Server:
        """Where clients connect: this PgBouncer, as the test server's user."""
        return Server(
            vendor=self.target.vendor,
            host="127.0.0.1",
            port=self.port,
            user=self.target.user,
            password=self.target.password,
            database=self.target.database,
            options=dict(self.target.options),
        )

    def start(self) -> PgBouncer:
        path = binary()
        if path is None:
            raise RuntimeError(missing_reason())
        target = self.target
        (self.dir / "userlist.txt").write_text(f'"{target.user}" "{target.password}"\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={target.host} port={target.port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'userlist.txt'}\n"
            f"pool_mode = {self.mode}\n"
            f"default_pool_size = {self.pool_size}\n"
            "min_pool_size = 0\n"
            "reserve_pool_size = 0\n"
            "max_client_conn = 1000\n"
            # A dropped test database's server connections go soon.
            "server_idle_timeout = 5\n"
            "server_check_delay = 0\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
            f"pidfile = {self.dir / 'pgbouncer.pid'}\n"
        )
        command = [path]
        if os.geteuid() == 0:
            # pgbouncer refuses to run as root.
            for item in [self.dir, *self.dir.iterdir()]:
                shutil.chown(item, "postgres")
            command += ["-u", "postgres"]
        command.append(str(self.dir / "pgbouncer.ini"))
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen within 15 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        log = self.dir / "pgbouncer.log"
        return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


# -- what cannot apply behind PgBouncer ----------------------------------------------------

# PostgreSQL contract tests (by function name) that assert something about
# *server* sessions, which PgBouncer owns, and why. docs/scaling.md lists them.
_NEW_SESSION = (
    "tells a new connection by a new pg_backend_pid(): PgBouncer keeps the server session "
    "when a client connection closes and lends it to the next one"
)
_COUNTS_SESSIONS = (
    "counts PostgreSQL's sessions: they are PgBouncer's, kept until its server_idle_timeout, "
    "not one per pooled connection"
)
_BOTH_MODES = {
    "test_a_thread_that_ended_without_close_gives_its_slot_back": _NEW_SESSION,
    "test_a_dropped_wrapper_gives_its_slot_back_before_a_waiter_times_out": _NEW_SESSION,
    "test_a_connection_whose_thread_ended_is_reclaimed_and_never_reused": _NEW_SESSION,
    "test_a_connection_past_max_lifetime_is_retired_not_parked": _NEW_SESSION,
    "test_max_lifetime_retires_connections_on_return": _NEW_SESSION,
    "test_discard_replaces_the_connection": _NEW_SESSION,
    "test_a_failing_configure_gives_no_connection_and_says_why": _COUNTS_SESSIONS,
    "test_closing_the_pool_closes_parked_connections": _COUNTS_SESSIONS,
    "test_max_idle_shrinks_towards_min_size": _COUNTS_SESSIONS,
}
_PER_TRANSACTION = (
    "tells a pooled connection by its pg_backend_pid(), which a transaction pooler changes "
    "from one transaction to the next"
)
_SESSION_STATE = (
    "marks or tests a session with session state (SET, temporary tables, advisory locks), "
    "which behind='pgbouncer-transaction' refuses by design (tests/fleet/test_pgbouncer.py)"
)
_KILLED = (
    "kills the pooled connection's server session with pg_terminate_backend(): PgBouncer "
    "lends the next transaction another one, so the pool never sees the kill"
)
NOT_APPLICABLE: dict[str, dict[str, str]] = {
    "session": _BOTH_MODES,
    "transaction": {
        **_BOTH_MODES,
        "test_min_size_connections_are_opened_in_the_background": _COUNTS_SESSIONS,
        "test_many_sessions_on_few_connections_never_share_one_at_a_time": _PER_TRANSACTION,
        "test_fork_child_builds_its_own_pool": _PER_TRANSACTION,
        "test_the_most_recently_returned_connection_is_handed_out_first": _PER_TRANSACTION,
        "test_a_forked_child_never_takes_its_parents_parked_connection": _PER_TRANSACTION,
        "test_check_true_replaces_a_killed_connection_without_an_error": _KILLED,
        "test_check_interval_skips_recently_used_connections": _KILLED,
        "test_a_chunked_iterator_holds_until_exhausted": (
            "holds a server-side cursor open, which DISABLE_SERVER_SIDE_CURSORS (required "
            "behind a transaction pooler, django_multipool.E005) turns off"
        ),
        **dict.fromkeys(
            [
                "test_configure_runs_again_after_a_session_reset",
                "test_reset_session_releases_after_every_statement",
                "test_session_state_holds_the_connection_until_the_session_ends",
                "test_one_warning_per_call_site",
                "test_session_state_error_refuses_the_statement",
                "test_session_state_inside_pinned_or_atomic_is_not_refused",
                "test_request_mode_does_not_look_at_statements",
                "test_one_pinned_object_pins_each_threads_own_wrapper",
                "test_one_pinned_object_nested_in_one_thread_while_another_uses_it",
                "test_one_pinned_object_pins_each_tasks_own_wrapper",
                "test_pinned_decorates_a_sync_function_used_by_two_threads",
                "test_pinned_decorates_a_coroutine_function_used_by_two_tasks",
            ],
            _SESSION_STATE,
        ),
    },
}


def not_applicable(test_name: str, mode: str) -> str | None:
    """Why a PostgreSQL test cannot apply behind PgBouncer in ``mode``, or None."""
    return NOT_APPLICABLE[mode].get(test_name)
