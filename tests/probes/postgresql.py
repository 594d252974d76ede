"""PostgreSQL seen from outside the pool."""

from __future__ import annotations

from typing import Any, ClassVar

from ..servers import TEST_DATABASE
from . import Probe as BaseProbe
from . import SessionState


class Probe(BaseProbe):
    backend_id_sql = "SELECT pg_backend_pid()"
    session_states: ClassVar[dict[str, SessionState]] = {
        "settings": SessionState(
            leave=(
                "SET statement_timeout = 12345",
                "SET application_name = 'multipool_leak'",
                "SET search_path = pg_catalog",
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            ),
            read="SELECT current_setting('statement_timeout'),"
            " current_setting('application_name'), current_setting('search_path'),"
            " current_setting('default_transaction_isolation')",
        ),
        "time_zone": SessionState(
            leave=("SET TIME ZONE 'Asia/Tokyo'",), read="SELECT current_setting('TimeZone')"
        ),
        # PostgreSQL's user variables are custom settings; a reset leaves an
        # empty placeholder behind, hence the coalesce.
        "session_variables": SessionState(
            leave=(
                "SET multipool.leak = 'yes'",
                "SELECT set_config('multipool.leak2', 'yes', false)",
            ),
            read="SELECT coalesce(current_setting('multipool.leak', true), ''),"
            " coalesce(current_setting('multipool.leak2', true), '')",
        ),
        "role": SessionState(
            leave=("SET ROLE pg_monitor",), read="SELECT current_user, session_user"
        ),
        "temp_table": SessionState(
            leave=("CREATE TEMP TABLE multipool_leak_tmp (x int)",),
            read="SELECT to_regclass('pg_temp.multipool_leak_tmp') IS NOT NULL",
        ),
        "prepared_statement": SessionState(
            leave=("PREPARE multipool_leak_stmt AS SELECT 1",),
            read="SELECT count(*) FROM pg_prepared_statements WHERE name = 'multipool_leak_stmt'",
        ),
        "cursor_with_hold": SessionState(
            leave=("DECLARE multipool_leak_cur CURSOR WITH HOLD FOR SELECT 1",),
            read="SELECT count(*) FROM pg_cursors WHERE name = 'multipool_leak_cur'",
        ),
        "advisory_lock": SessionState(
            leave=("SELECT pg_advisory_lock(770077)",),
            read="SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND pid = pg_backend_pid() AND objid = 770077",
        ),
        "listen": SessionState(
            leave=("LISTEN multipool_leak",),
            read="SELECT count(*) FROM pg_listening_channels() c WHERE c = 'multipool_leak'",
        ),
        "sequence_currval": SessionState(
            prepare=("CREATE SEQUENCE IF NOT EXISTS multipool_leak_seq",),
            leave=("SELECT nextval('multipool_leak_seq')",),
            read="SELECT currval('multipool_leak_seq') IS NOT NULL",
        ),
    }
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

    def connect(self, database: str | None = None) -> Any:
        """A plain autocommit connection as the server's admin user, never a pool's."""
        import psycopg

        s = self.server
        return psycopg.connect(
            host=s.host,
            port=s.port,
            user=s.user,
            password=s.password,
            dbname=database or s.database or "postgres",
            autocommit=True,
        )

    def execute(
        self, sql: str, params: tuple[Any, ...] = (), database: str | None = None
    ) -> list[tuple[Any, ...]]:
        conn = self.connect(database)
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

    def create_login(self, user: str, password: str, database: str = TEST_DATABASE) -> None:
        # Loopback uses trust auth here: the server never asks for the password.
        assert user.isidentifier() and password.isalnum()
        verb = (
            "ALTER"
            if self.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
            else "CREATE"
        )
        self.execute(f"{verb} ROLE {user} LOGIN PASSWORD '{password}'")
        self.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {user}')

    def sessions(self, database: str = TEST_DATABASE) -> dict[str, int | None]:
        rows = self.execute(
            "SELECT pid, client_port FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        return {str(pid): port for pid, port in rows}
