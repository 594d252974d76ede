"""What ``python -m demo`` does to PostgreSQL directly, outside the site's pool.

These are plain psycopg connections to the DSN's admin database, so they never
show up in the demo database's ``pg_stat_activity`` count.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from demo.env import DemoEnv
from demo.sampler import Sampler


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


class ConnectionSampler(Sampler):
    """Count the demo database's server sessions every ``interval`` seconds, in a thread."""

    def __init__(self, env: DemoEnv, interval: float = 0.05) -> None:
        super().__init__(self._count, interval, name="pg_stat_activity")
        self.env = env

    def start(self) -> None:
        self._conn = admin_connection(self.env)
        super().start()

    def stop(self) -> None:
        super().stop()
        self._conn.close()

    def _count(self) -> int:
        return server_connections(self._conn, self.env.database)
