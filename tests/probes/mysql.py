"""MySQL/MariaDB seen from outside the pool."""

from __future__ import annotations

from typing import Any, ClassVar

from ..servers import TEST_DATABASE
from . import Probe as BaseProbe
from . import SessionState


class Probe(BaseProbe):
    backend_id_sql = "SELECT CONNECTION_ID()"
    session_states: ClassVar[dict[str, SessionState]] = {
        "settings": SessionState(
            leave=(
                "SET SESSION wait_timeout = 12345",
                "SET SESSION sql_select_limit = 7",
                "SET SESSION foreign_key_checks = 0",
                "SET SESSION sql_mode = 'ANSI'",
                "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            ),
            # tx_isolation is MariaDB's name (MySQL 8 has transaction_isolation).
            read="SELECT @@session.wait_timeout, @@session.sql_select_limit,"
            " @@session.foreign_key_checks, @@session.sql_mode, @@session.tx_isolation",
        ),
        "time_zone": SessionState(
            leave=("SET time_zone = '+05:00'",), read="SELECT @@session.time_zone"
        ),
        "character_set": SessionState(
            leave=("SET NAMES latin1",),
            read="SELECT @@character_set_client, @@character_set_results, @@collation_connection",
        ),
        "autocommit": SessionState(leave=("SET autocommit = 0",), read="SELECT @@autocommit"),
        "user_variables": SessionState(
            leave=("SET @multipool_leak = 'yes'", "SET @multipool_leak2 = 42"),
            read="SELECT @multipool_leak, @multipool_leak2",
        ),
        "current_database": SessionState(
            leave=("USE information_schema",), read="SELECT DATABASE()"
        ),
        # MariaDB 10.11 lists temporary tables nowhere: reading one fails once it is gone.
        "temp_table": SessionState(
            leave=("CREATE TEMPORARY TABLE multipool_leak_tmp (x int)",),
            read="SELECT COUNT(*) FROM multipool_leak_tmp",
        ),
        "prepared_statement": SessionState(
            leave=("PREPARE multipool_leak_stmt FROM 'SELECT 1'",),
            read="EXECUTE multipool_leak_stmt",
        ),
        "named_lock": SessionState(
            leave=("SELECT GET_LOCK('multipool_leak', 0)",),
            read="SELECT IS_USED_LOCK('multipool_leak') = CONNECTION_ID()",
        ),
        # A session holding LOCK TABLES may read only the tables it locked.
        "table_lock": SessionState(
            prepare=(
                "CREATE TABLE IF NOT EXISTS multipool_leak_locked (x int)",
                "CREATE TABLE IF NOT EXISTS multipool_leak_other (x int)",
            ),
            leave=("LOCK TABLES multipool_leak_locked READ",),
            read="SELECT COUNT(*) FROM multipool_leak_other",
        ),
        "last_insert_id": SessionState(
            leave=("SELECT LAST_INSERT_ID(4242)",), read="SELECT LAST_INSERT_ID()"
        ),
    }
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

    def connect(self, database: str | None = None) -> Any:
        """A plain autocommit connection as the server's admin user, never a pool's."""
        import mysql.connector

        s = self.server
        return mysql.connector.connect(
            host=s.host,
            port=s.port or 3306,
            user=s.user,
            password=s.password,
            database=database or s.database or "mysql",
            autocommit=True,
            use_pure=True,
        )

    def execute(
        self, sql: str, params: tuple[Any, ...] = (), database: str | None = None
    ) -> list[tuple[Any, ...]]:
        conn = self.connect(database)
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

    def create_login(self, user: str, password: str, database: str = TEST_DATABASE) -> None:
        assert user.isidentifier() and password.isalnum()
        # Both: MariaDB matches a TCP client on 127.0.0.1 to 'localhost' or to
        # '127.0.0.1' depending on its name resolution.
        for host in ("127.0.0.1", "localhost"):
            self.execute(f"CREATE USER IF NOT EXISTS '{user}'@'{host}'")
            self.execute(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
            self.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'{host}'")

    def sessions(self, database: str = TEST_DATABASE) -> dict[str, int | None]:
        rows = self.execute(
            "SELECT id, host FROM information_schema.processlist"
            " WHERE db = %s AND id <> CONNECTION_ID()",
            (database,),
        )
        # host is "127.0.0.1:54321" over TCP, "localhost" over a Unix socket.
        return {
            str(id_): int(host.rsplit(":", 1)[1]) if ":" in host else None for id_, host in rows
        }
