"""What ``python -m demo`` does to PostgreSQL directly, outside the site's pool.

These are plain psycopg connections to the DSN's admin database, so they never
show up in the demo database's ``pg_stat_activity`` count.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from demo.env import SITE_ROLE, DemoEnv
from demo.sampler import Sampler


def admin_connection(env: DemoEnv, database: str | None = None) -> psycopg.Connection:
    return psycopg.connect(**env.connect_kwargs(database), autocommit=True, connect_timeout=5)


#: The most sessions the site's role may hold at once: a stand-in for the
#: server's max_connections that leaves a shared server room for others.
SITE_CONNECTION_LIMIT = 50


def create_database(env: DemoEnv) -> bool:
    """Create the site's role and the demo database it owns; return whether the database is new.

    The role gets ``env.site_password`` and CONNECTION LIMIT
    :data:`SITE_CONNECTION_LIMIT`. A demo database another role owns (left by
    an older demo) is dropped and made again: it holds nothing but demo rows.
    """
    with admin_connection(env) as conn:
        role = sql.Identifier(SITE_ROLE)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [SITE_ROLE]).fetchone()
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT {}").format(
                sql.SQL("ALTER" if exists else "CREATE"),
                role,
                sql.Literal(env.site_password),
                sql.Literal(SITE_CONNECTION_LIMIT),
            )
        )
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [env.database]
        ).fetchone()
        if owner and owner[0] == SITE_ROLE:
            return False
        name = sql.Identifier(env.database)
        if owner:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(name, role))
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
