"""PostgreSQL seen from outside the pool."""

from __future__ import annotations

from typing import Any, ClassVar

from ..servers import TEST_DATABASE
from . import Probe as BaseProbe


class Probe(BaseProbe):
    backend_id_sql = "SELECT pg_backend_pid()"
    session_state_set: ClassVar[list[str]] = [
        "SET statement_timeout = 12345",
        "CREATE TEMP TABLE multipool_leak (x int)",
        "PREPARE multipool_leak_stmt AS SELECT 1",
    ]
    session_state_get = (
        "SELECT current_setting('statement_timeout'),"
        " (SELECT count(*) FROM pg_tables WHERE tablename = 'multipool_leak'),"
        " (SELECT count(*) FROM pg_prepared_statements)"
    )

    def execute(
        self, sql: str, params: tuple[Any, ...] = (), database: str | None = None
    ) -> list[tuple[Any, ...]]:
        import psycopg

        s = self.server
        conn = psycopg.connect(
            host=s.host,
            port=s.port,
            user=s.user,
            password=s.password,
            dbname=database or s.database or "postgres",
            autocommit=True,
        )
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def ensure_database(self, name: str = TEST_DATABASE) -> None:
        if not self.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)):
            self.execute(f'CREATE DATABASE "{name}"')

    def count_connections(self, database: str = TEST_DATABASE) -> int:
        rows = self.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        return int(rows[0][0])

    def kill(self, backend_id: Any) -> None:
        self.execute("SELECT pg_terminate_backend(%s)", (backend_id,))
