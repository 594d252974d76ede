"""Oracle seen from outside the pool.

Oracle has no databases inside a server: a test "database" is a user (a
schema) on the service the DSN names, with the admin's password. That is
also how Django's own Oracle tests isolate a test run.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..servers import TEST_DATABASE
from . import Probe as BaseProbe
from . import SessionState

# "ORA-00031: session marked for kill": the kill is pending, which is enough.
_MARKED_FOR_KILL = "ORA-00031"


class Probe(BaseProbe):
    backend_id_sql = "SELECT SYS_CONTEXT('USERENV', 'SID') FROM DUAL"
    session_states: ClassVar[dict[str, SessionState]] = {
        "settings": SessionState(
            leave=(
                "ALTER SESSION SET NLS_SORT = 'GERMAN'",
                "ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY'",
            ),
            read="SELECT (SELECT value FROM nls_session_parameters WHERE parameter = 'NLS_SORT'),"
            " (SELECT value FROM nls_session_parameters WHERE parameter = 'NLS_DATE_FORMAT')"
            " FROM DUAL",
        ),
        "time_zone": SessionState(
            leave=("ALTER SESSION SET TIME_ZONE = 'Asia/Tokyo'",),
            read="SELECT SESSIONTIMEZONE FROM DUAL",
        ),
        "client_identifier": SessionState(
            leave=("BEGIN DBMS_SESSION.SET_IDENTIFIER('multipool_leak'); END;",),
            read="SELECT SYS_CONTEXT('USERENV', 'CLIENT_IDENTIFIER') FROM DUAL",
        ),
        "current_schema": SessionState(
            leave=("ALTER SESSION SET CURRENT_SCHEMA = SYSTEM",),
            read="SELECT SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') FROM DUAL",
        ),
        "temp_table": SessionState(
            leave=(
                "CREATE PRIVATE TEMPORARY TABLE ora$ptt_multipool_leak (x INT)"
                " ON COMMIT PRESERVE DEFINITION",
            ),
            read="SELECT COUNT(*) FROM user_private_temp_tables",
        ),
    }
    session_state_set: ClassVar[list[str]] = [
        "ALTER SESSION SET NLS_SORT = 'GERMAN'",
        "BEGIN DBMS_SESSION.SET_IDENTIFIER('multipool_leak'); END;",
        "CREATE PRIVATE TEMPORARY TABLE ora$ptt_multipool_leak (x INT)"
        " ON COMMIT PRESERVE DEFINITION",
    ]
    session_state_get = (
        "SELECT (SELECT value FROM nls_session_parameters WHERE parameter = 'NLS_SORT'),"
        " SYS_CONTEXT('USERENV', 'CLIENT_IDENTIFIER'),"
        " (SELECT COUNT(*) FROM user_private_temp_tables) FROM DUAL"
    )

    def execute(
        self, sql: str, params: tuple[Any, ...] = (), database: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run SQL as the admin user, or as the user named by ``database``."""
        import oracledb

        s = self.server
        conn = oracledb.connect(
            user=database or s.user,
            password=s.password,
            dsn=f"{s.host}:{s.port}/{s.database}",
        )
        conn.autocommit = True
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def ensure_database(self, name: str = TEST_DATABASE) -> None:
        user = _identifier(name)
        if not self.execute("SELECT 1 FROM dba_users WHERE username = :1", (user,)):
            password = self.server.password.replace('"', "")
            self.execute(f'CREATE USER {user} IDENTIFIED BY "{password}" QUOTA UNLIMITED ON USERS')
            self.execute(f"GRANT CREATE SESSION, CREATE TABLE TO {user}")

    def count_connections(self, database: str = TEST_DATABASE) -> int:
        rows = self.execute(
            "SELECT COUNT(*) FROM v$session WHERE username = :1", (_identifier(database),)
        )
        return int(rows[0][0])

    def create_login(self, user: str, password: str, database: str = TEST_DATABASE) -> None:
        # A user is a schema on Oracle: the login itself is all the access it needs.
        assert password.isalnum()
        name = _identifier(user)
        exists = self.execute("SELECT 1 FROM dba_users WHERE username = :1", (name,))
        self.execute(f'{"ALTER" if exists else "CREATE"} USER {name} IDENTIFIED BY "{password}"')
        self.execute(f"GRANT CREATE SESSION TO {name}")

    def sessions(self, database: str = TEST_DATABASE) -> dict[str, int | None]:
        rows = self.execute(
            "SELECT sid, port FROM v$session WHERE username = :1", (_identifier(database),)
        )
        return {str(sid): port for sid, port in rows}

    def kill(self, backend_id: Any) -> None:
        # Without IMMEDIATE, as a DBA would: the session is marked killed and its
        # client learns it at its next call (ORA-00028), like a session a
        # firewall or an idle limit ended while the pool held it.
        import oracledb

        sid = int(backend_id)
        rows = self.execute("SELECT serial# FROM v$session WHERE sid = :1", (sid,))
        if not rows:
            return
        try:
            self.execute(f"ALTER SYSTEM KILL SESSION '{sid},{int(rows[0][0])}'")
        except oracledb.DatabaseError as exc:
            if _MARKED_FOR_KILL not in str(exc):
                raise


def _identifier(name: str) -> str:
    # Users are interpolated into DDL (it takes no binds): allow plain names only.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,29}", name):
        raise ValueError(f"{name!r} is not a plain Oracle identifier")
    return name.upper()
