"""The storm's database, its session sampler, PgBouncer and the configurations it compares.

The site connects as its own login, ``storm``, capped server-side
(``CONNECTION_LIMIT``): the configurations without a bound on connections (no
pool, ``CONN_MAX_AGE=600``) then fail on this bench's own cap instead of
taking every connection of a server that others share. The sampler and the
setup connect as the server's admin user (``tests/servers.py``), outside
that cap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _bootstrap as bench
from demo.sampler import Sampler
from demo.server import HOST, free_port
from tests.servers import Server

DATABASE = "multipool_storm"
USER = "storm"
#: The storm login's password (the probes' logins take letters and digits only).
PASSWORD = "stormbench"
CONNECTION_LIMIT = 60
POOL_SIZE = 20
#: Seconds a request may wait for a pooled connection, the same for every pool.
POOL_TIMEOUT = 10
ROWS = 100


def admin(server: Server, database: str | None = None) -> Any:
    """A plain autocommit connection as the server's admin user (the tests' probe's)."""
    return bench.probe(server).connect(database)


def count_sessions(conn: Any, database: str = DATABASE) -> int:
    """A database's sessions (the storm's by default), the counting session's own excluded."""
    if hasattr(conn, "execute"):  # psycopg
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchone()
        return int(row[0])
    cur = conn.cursor()
    cur.execute(
        "SELECT count(*) FROM information_schema.processlist"
        " WHERE db = %s AND id <> CONNECTION_ID()",
        [database],
    )
    (count,) = cur.fetchone()
    cur.close()
    return int(count)


def setup(server: Server) -> None:
    """The storm database, its capped login and its table of ROWS rows, fresh."""
    probe = bench.probe(server)
    probe.ensure_database(DATABASE)
    probe.create_login(USER, PASSWORD, DATABASE)
    table = "storm_row (id integer PRIMARY KEY, value integer NOT NULL)"
    if server.vendor.name == "postgresql":
        probe.execute(f"ALTER ROLE {USER} CONNECTION LIMIT {CONNECTION_LIMIT}")
        for sql in (
            "DROP TABLE IF EXISTS storm_row",
            f"CREATE TABLE {table}",
            f"INSERT INTO storm_row SELECT i, i * 7 FROM generate_series(1, {ROWS}) i",
            f"ALTER TABLE storm_row OWNER TO {USER}",
        ):
            probe.execute(sql, database=DATABASE)
        return
    for host in ("127.0.0.1", "localhost"):
        probe.execute(f"ALTER USER '{USER}'@'{host}' WITH MAX_USER_CONNECTIONS {CONNECTION_LIMIT}")
    values = ", ".join(f"({i}, {i * 7})" for i in range(1, ROWS + 1))
    for sql in (
        "DROP TABLE IF EXISTS storm_row",
        f"CREATE TABLE {table}",
        f"INSERT INTO storm_row VALUES {values}",
    ):
        probe.execute(sql, database=DATABASE)


class SessionSampler(Sampler):
    """demo.sampler.Sampler counting the storm database's sessions on an admin connection."""

    def __init__(self, server: Server, interval: float = 0.05) -> None:
        self._conn = admin(server)
        super().__init__(lambda: count_sessions(self._conn), interval, name="storm-sampler")

    def stop(self) -> None:
        super().stop()
        self._conn.close()


def wait_for_no_sessions(server: Server, within: float = 15.0) -> int:
    """Wait until the previous configuration's sessions are gone; return what is left."""
    return wait_for_no_sessions_on(server, DATABASE, within)


def wait_for_no_sessions_on(server: Server, database: str, within: float = 15.0) -> int:
    """Wait until ``database`` has no sessions; return what is left after ``within`` s."""
    probe = bench.probe(server)
    deadline = time.monotonic() + within
    while (left := probe.count_connections(database)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


# -- PgBouncer ----------------------------------------------------------------


class PgBouncer:
    """Our own pgbouncer (transaction mode, pool of 20) on a free loopback port.

    pgbouncer refuses to run as root; as root it is started with ``-u postgres``
    and its temporary directory is handed to that user.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="storm-pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        (self.dir / "userlist.txt").write_text(f'"{USER}" "{PASSWORD}"\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{DATABASE} = host={self.server.host} port={self.server.port} dbname={DATABASE}"
            f" user={USER} password={PASSWORD}\n"
            "[pgbouncer]\n"
            f"listen_addr = {HOST}\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {POOL_SIZE}\n"
            "min_pool_size = 0\n"
            "reserve_pool_size = 0\n"
            f"max_db_connections = {POOL_SIZE}\n"
            "max_client_conn = 2000\n"
            f"query_wait_timeout = {POOL_TIMEOUT}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
        )
        command = [binary]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            for child in self.dir.iterdir():
                shutil.chown(child, "postgres")
            command += ["-u", "postgres"]
        command.append(str(self.dir / "pgbouncer.ini"))
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_it_answers()

    def _wait_until_it_answers(self) -> None:
        import psycopg

        assert self.process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.log_tail()}")
            try:
                psycopg.connect(
                    host=HOST, port=self.port, user=USER, dbname=DATABASE, connect_timeout=2
                ).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(f"pgbouncer did not answer:\n{self.log_tail()}")

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
        shutil.rmtree(self.dir, ignore_errors=True)


# -- configurations -----------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    key: str
    label: str
    vendors: tuple[str, ...]
    #: The DATABASES entry, given the server and (PgBouncer) the port to use instead.
    database: Callable[[Server, int | None], dict[str, Any]]
    needs_pgbouncer: bool = False
    #: Why it cannot run here, or None.
    unavailable: Callable[[], str | None] = lambda: None


_DJANGO_ENGINE = {
    "postgresql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
}


def _base(server: Server, engine: str | None = None, port: int | None = None) -> dict[str, Any]:
    return {
        "ENGINE": engine or _DJANGO_ENGINE[server.vendor.name],
        "NAME": DATABASE,
        "USER": USER,
        "PASSWORD": PASSWORD,
        "HOST": server.host,
        "PORT": port or server.port,
        "CONN_MAX_AGE": 0,
        "OPTIONS": {},
    }


def _no_pool(server: Server, port: int | None) -> dict[str, Any]:
    return _base(server)


def _conn_max_age(server: Server, port: int | None) -> dict[str, Any]:
    return {**_base(server), "CONN_MAX_AGE": 600}


def _django_pool(server: Server, port: int | None) -> dict[str, Any]:
    entry = _base(server)
    entry["OPTIONS"] = {"pool": {"min_size": 2, "max_size": POOL_SIZE, "timeout": POOL_TIMEOUT}}
    return entry


def _dj_db_conn_pool(server: Server, port: int | None) -> dict[str, Any]:
    entry = _base(server, f"dj_db_conn_pool.backends.{server.vendor.name}")
    entry["POOL_OPTIONS"] = {"POOL_SIZE": POOL_SIZE, "MAX_OVERFLOW": 0, "TIMEOUT": POOL_TIMEOUT}
    return entry


def _pgbouncer(server: Server, port: int | None) -> dict[str, Any]:
    entry = _base(server, port=port)
    entry["PASSWORD"] = ""  # PgBouncer trusts its clients and holds the password itself
    entry["DISABLE_SERVER_SIDE_CURSORS"] = True
    return entry


#: A DATABASES key the storm site pops before Django sees it: turns the
#: pool's parking off (PoolAdapter.parks), to measure what parking buys.
PARKING_OFF = "STORM_PARKING_OFF"
#: Another: the views make the same thread hops and awaits but send no
#: query (storm_site/views.py), which is the most any pool could reach.
CEILING = "STORM_CEILING"


def _ceiling(server: Server, port: int | None) -> dict[str, Any]:
    result = _ours("transaction")(server, port)
    result[CEILING] = True
    return result


def _ours(
    release: str, parking: bool = True, engine: str | None = None
) -> Callable[[Server, int | None], dict[str, Any]]:
    def entry(server: Server, port: int | None) -> dict[str, Any]:
        result = _base(server, engine or server.vendor.engine)
        result["OPTIONS"] = {
            "pool": {
                "min_size": 2,
                "max_size": POOL_SIZE,
                "timeout": POOL_TIMEOUT,
                "release": release,
            }
        }
        if not parking:
            result[PARKING_OFF] = True
        return result

    return entry


def _dj_db_conn_pool_missing() -> str | None:
    try:
        import dj_db_conn_pool  # noqa: F401
    except ImportError:
        return "django-db-connection-pool is not installed (the bench dependency group)"
    return None


def _pgbouncer_missing() -> str | None:
    if shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists():
        return None
    return "pgbouncer is not installed (Debian package pgbouncer)"


BOTH = ("postgresql", "mysql")
CONFIGURATIONS = [
    Configuration("no-pool", "no pool (CONN_MAX_AGE=0)", BOTH, _no_pool),
    Configuration("max-age", "CONN_MAX_AGE=600", BOTH, _conn_max_age),
    Configuration("django-pool", "Django's pool", ("postgresql",), _django_pool),
    Configuration(
        "dj-db-conn-pool",
        "django-db-connection-pool",
        BOTH,
        _dj_db_conn_pool,
        unavailable=_dj_db_conn_pool_missing,
    ),
    Configuration(
        "pgbouncer",
        "PgBouncer (transaction)",
        ("postgresql",),
        _pgbouncer,
        needs_pgbouncer=True,
        unavailable=_pgbouncer_missing,
    ),
    Configuration("ours-request", 'ours, release="request"', BOTH, _ours("request")),
    Configuration("ours-transaction", 'ours, release="transaction"', BOTH, _ours("transaction")),
    Configuration(
        "ours-connector-transaction",
        'ours on mysql-connector, release="transaction"',
        ("mysql",),
        _ours("transaction", engine="django_multipool.backends.mysql_connector"),
    ),
    Configuration("ceiling", "ceiling: no query, the same hops and awaits", BOTH, _ceiling),
    Configuration(
        "ours-transaction-unparked",
        'ours, release="transaction", parking off',
        BOTH,
        _ours("transaction", parking=False),
    ),
]
BY_KEY = {c.key: c for c in CONFIGURATIONS}
