"""What ``python -m demo`` does to PostgreSQL directly, outside the site's pool.

These are plain psycopg connections to the DSN's admin database, so they never
show up in the demo database's ``pg_stat_activity`` count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from demo.env import DemoEnv


def admin_connection(env: DemoEnv, database: str | None = None) -> psycopg.Connection:
    return psycopg.connect(**env.connect_kwargs(database), autocommit=True, connect_timeout=5)


def create_database(env: DemoEnv) -> bool:
    """Create the demo database if it is missing; return whether it was created."""
    with admin_connection(env) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [env.database]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(env.database)))
        return True


def empty_hits(env: DemoEnv) -> None:
    with admin_connection(env, env.database) as conn:
        conn.execute("TRUNCATE demo_hit")


def count_hits(env: DemoEnv) -> int:
    with admin_connection(env, env.database) as conn:
        row = conn.execute("SELECT count(*) FROM demo_hit").fetchone()
        return int(row[0]) if row else 0


def server_connections(conn: psycopg.Connection, database: str) -> int:
    """Sessions PostgreSQL has open on ``database``, whoever opened them."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [database],
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass
class ConnectionSampler:
    """Count the demo database's server sessions every ``interval`` seconds, in a thread.

    A thread rather than a task: the load generator keeps the event loop busy,
    and a late sample is a sample that can miss a peak.
    """

    env: DemoEnv
    interval: float = 0.05
    samples: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg_stat_activity", daemon=True)

    def start(self) -> None:
        self._conn = admin_connection(self.env)
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
            self.samples.append(server_connections(self._conn, self.env.database))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
