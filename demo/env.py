"""The demo's knobs, read from the environment by the settings and the driver alike.

Kept free of Django imports so ``python -m demo`` can read them before any
settings exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class DemoEnv:
    #: Server DSN; its database is the admin one (CREATE DATABASE, pg_stat_activity).
    dsn: str
    #: Database the site uses; created and migrated by ``python -m demo``.
    database: str
    #: OPTIONS["pool"]["max_size"] of the site's pool.
    max_size: int

    @classmethod
    def from_environ(cls) -> DemoEnv:
        return cls(
            dsn=os.environ.get("MULTIPOOL_POSTGRESQL_DSN") or DEFAULT_DSN,
            database=os.environ.get("MULTIPOOL_DEMO_DATABASE") or "multipool_demo",
            max_size=int(os.environ.get("MULTIPOOL_DEMO_MAX_SIZE") or 10),
        )

    def connect_kwargs(self, database: str | None = None) -> dict[str, object]:
        """psycopg.connect() arguments for ``database`` (default: the DSN's own)."""
        parts = urlsplit(self.dsn)
        return {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password or ""),
            "dbname": database or parts.path.lstrip("/") or "postgres",
        }
