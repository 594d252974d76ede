"""Databases, connection samplers, PgBouncer and the configurations the storm bench compares.

The site connects as its own role/user, ``storm``, capped server-side
(``STORM_CONNECTION_LIMIT``): the configurations without a bound on
connections (no pool, ``CONN_MAX_AGE=600``) then fail on this bench's own
cap instead of taking every connection of a server that others share.
The samplers and the setup connect as the admin user, outside that cap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from demo.database import server_connections
from demo.server import HOST, free_port

DATABASE = "multipool_storm"
USER = "storm"
STORM_CONNECTION_LIMIT = 60
POOL_SIZE = 20
#: Seconds a request may wait for a pooled connection, the same for every pool.
POOL_TIMEOUT = 10
ROWS = 100

PG_HOST, PG_PORT = "127.0.0.1", int(os.environ.get("STORM_PG_PORT", "5432"))
MY_HOST, MY_PORT = "127.0.0.1", int(os.environ.get("STORM_MARIADB_PORT", "3306"))


def release_transaction_available() -> bool:
    """Whether django_multipool accepts ``OPTIONS["pool"]["release"]`` yet (issue 4)."""
    from django_multipool import PoolConfig

    return "release" in PoolConfig.keys()  # noqa: SIM118 (a classmethod)


# -- PostgreSQL ---------------------------------------------------------------


def pg_admin(database: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname=database, autocommit=True
    )


def pg_setup() -> None:
    with pg_admin() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [USER]).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(USER)))
        conn.execute(
            sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
                sql.Identifier(USER), sql.Literal(STORM_CONNECTION_LIMIT)
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(USER)
                )
            )
    with pg_admin(DATABASE) as conn:
        conn.execute("DROP TABLE IF EXISTS storm_row")
        conn.execute("CREATE TABLE storm_row (id integer PRIMARY KEY, value integer NOT NULL)")
        conn.execute("INSERT INTO storm_row SELECT i, i * 7 FROM generate_series(1, %s) i", [ROWS])
        conn.execute(sql.SQL("ALTER TABLE storm_row OWNER TO {}").format(sql.Identifier(USER)))


def pg_count(conn: psycopg.Connection[Any]) -> int:
    return server_connections(conn, DATABASE)


# -- MariaDB ------------------------------------------------------------------


def my_admin(database: str | None = None) -> Any:
    import mysql.connector

    kwargs: dict[str, Any] = {"host": MY_HOST, "port": MY_PORT, "user": "root", "autocommit": True}
    if database:
        kwargs["database"] = database
    return mysql.connector.connect(**kwargs)


def my_setup() -> None:
    conn = my_admin()
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'{host}'")
            cur.execute(
                f"ALTER USER '{USER}'@'{host}' WITH MAX_USER_CONNECTIONS {STORM_CONNECTION_LIMIT}"
            )
            cur.execute(f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'{host}'")
        cur.execute(f"DROP TABLE IF EXISTS {DATABASE}.storm_row")
        cur.execute(
            f"CREATE TABLE {DATABASE}.storm_row (id integer PRIMARY KEY, value integer NOT NULL)"
        )
        cur.executemany(
            f"INSERT INTO {DATABASE}.storm_row VALUES (%s, %s)",
            [(i, i * 7) for i in range(1, ROWS + 1)],
        )
    finally:
        conn.close()


def my_count(conn: Any) -> int:
    cur = conn.cursor()
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.processlist"
        " WHERE db = %s AND id <> CONNECTION_ID()",
        [DATABASE],
    )
    (count,) = cur.fetchone()
    cur.close()
    return int(count)


# -- sampling -----------------------------------------------------------------


@dataclass
class Sampler:
    """Count the bench database's server sessions every ``interval`` s, in a thread.

    Like demo.database.ConnectionSampler (a thread, so the load generator's
    busy event loop cannot delay samples) but for either vendor.
    """

    connect: Callable[[], Any]
    count: Callable[[Any], int]
    interval: float = 0.05
    samples: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storm-sampler", daemon=True)

    def start(self) -> None:
        self._conn = self.connect()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.samples.append(self.count(self._conn))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


def current_connections(vendor: str) -> int:
    connect, count = SAMPLING[vendor]
    conn = connect()
    try:
        return count(conn)
    finally:
        conn.close()


def wait_for_no_connections(vendor: str, within: float = 15.0) -> int:
    """Wait until the previous configuration's sessions are gone; return what is left."""
    deadline = time.monotonic() + within
    while (left := current_connections(vendor)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


SAMPLING: dict[str, tuple[Callable[[], Any], Callable[[Any], int]]] = {
    "postgresql": (pg_admin, pg_count),
    "mariadb": (my_admin, my_count),
}
SETUP: dict[str, Callable[[], None]] = {"postgresql": pg_setup, "mariadb": my_setup}


# -- PgBouncer ----------------------------------------------------------------


class PgBouncer:
    """Our own pgbouncer (transaction mode, pool of 20) on a free loopback port.

    pgbouncer refuses to run as root; as root it is started with ``-u postgres``
    and its temporary directory is handed to that user.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="storm-pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        (self.dir / "userlist.txt").write_text(f'"{USER}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{DATABASE} = host={PG_HOST} port={PG_PORT} dbname={DATABASE} user={USER}\n"
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
    #: The DATABASES entry, given the vendor and (PgBouncer) the port to use.
    database: Callable[[str, int | None], dict[str, Any]]
    needs_pgbouncer: bool = False
    #: Why it cannot run in this checkout, or None.
    unavailable: Callable[[], str | None] = lambda: None


def _base(vendor: str, engine: str, port: int | None = None) -> dict[str, Any]:
    host, default_port = (PG_HOST, PG_PORT) if vendor == "postgresql" else (MY_HOST, MY_PORT)
    return {
        "ENGINE": engine,
        "NAME": DATABASE,
        "USER": USER,
        "PASSWORD": "",
        "HOST": host,
        "PORT": port or default_port,
        "CONN_MAX_AGE": 0,
        "OPTIONS": {},
    }


def _django(vendor: str) -> str:
    return (
        "django.db.backends.postgresql" if vendor == "postgresql" else "django.db.backends.mysql"
    )


def _no_pool(vendor: str, port: int | None) -> dict[str, Any]:
    return _base(vendor, _django(vendor))


def _conn_max_age(vendor: str, port: int | None) -> dict[str, Any]:
    return {**_base(vendor, _django(vendor)), "CONN_MAX_AGE": 600}


def _django_pool(vendor: str, port: int | None) -> dict[str, Any]:
    entry = _base(vendor, _django(vendor))
    entry["OPTIONS"] = {"pool": {"min_size": 2, "max_size": POOL_SIZE, "timeout": POOL_TIMEOUT}}
    return entry


def _dj_db_conn_pool(vendor: str, port: int | None) -> dict[str, Any]:
    backend = "postgresql" if vendor == "postgresql" else "mysql"
    entry = _base(vendor, f"dj_db_conn_pool.backends.{backend}")
    entry["POOL_OPTIONS"] = {"POOL_SIZE": POOL_SIZE, "MAX_OVERFLOW": 0, "TIMEOUT": POOL_TIMEOUT}
    return entry


def _pgbouncer(vendor: str, port: int | None) -> dict[str, Any]:
    entry = _base(vendor, _django(vendor), port)
    entry["DISABLE_SERVER_SIDE_CURSORS"] = True
    return entry


def _ours(release: str | None) -> Callable[[str, int | None], dict[str, Any]]:
    def entry(vendor: str, port: int | None) -> dict[str, Any]:
        backend = "postgresql" if vendor == "postgresql" else "mysql"
        result = _base(vendor, f"django_multipool.backends.{backend}")
        pool: dict[str, Any] = {"min_size": 2, "max_size": POOL_SIZE, "timeout": POOL_TIMEOUT}
        # Before issue 4 lands, the key is unknown and "request" is the only behaviour.
        if release is not None and release_transaction_available():
            pool["release"] = release
        result["OPTIONS"] = {"pool": pool}
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


def _transaction_missing() -> str | None:
    if release_transaction_available():
        return None
    return "not available yet: PoolConfig does not accept 'release' in this checkout"


BOTH = ("postgresql", "mariadb")
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
    Configuration(
        "ours-transaction",
        'ours, release="transaction"',
        BOTH,
        _ours("transaction"),
        unavailable=_transaction_missing,
    ),
]
