"""MySQL/MariaDB seen from outside the pool."""

from __future__ import annotations

from typing import Any, ClassVar

from ..servers import TEST_DATABASE
from . import Probe as BaseProbe


class Probe(BaseProbe):
    backend_id_sql = "SELECT CONNECTION_ID()"
    # Temporary tables are session state too, but MariaDB 10.11 lists them
    # nowhere a query could count them: tests/vendors/test_mysql_pool.py
    # checks them by selecting from one.
    session_state_set: ClassVar[list[str]] = [
        "SET @multipool_leak = 'yes'",
        "SET SESSION wait_timeout = 12345",
        "SET SESSION sql_select_limit = 7",
    ]
    session_state_get = (
        "SELECT @multipool_leak, @@session.wait_timeout, @@session.sql_select_limit"
    )

    def execute(
        self, sql: str, params: tuple[Any, ...] = (), database: str | None = None
    ) -> list[tuple[Any, ...]]:
        import mysql.connector

        s = self.server
        conn = mysql.connector.connect(
            host=s.host,
            port=s.port or 3306,
            user=s.user,
            password=s.password,
            database=database or s.database or "mysql",
            autocommit=True,
            use_pure=True,
        )
        try:
            cur = conn.cursor()
            cur.execute(sql, params or None)
            rows = cur.fetchall() if cur.description else []
            cur.close()
            return list(rows)  # type: ignore[arg-type]
        finally:
            conn.close()

    def ensure_database(self, name: str = TEST_DATABASE) -> None:
        self.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")

    def count_connections(self, database: str = TEST_DATABASE) -> int:
        rows = self.execute(
            "SELECT count(*) FROM information_schema.processlist"
            " WHERE db = %s AND id <> CONNECTION_ID()",
            (database,),
        )
        return int(rows[0][0])

    def kill(self, backend_id: Any) -> None:
        self.execute(f"KILL {int(backend_id)}")
