"""The demo's knobs, read from the environment by the settings and the driver alike.

Kept free of Django imports so ``python -m demo`` can read them before any
settings exist. ``python -m demo`` sets them for the servers it starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The role the site connects as. Not a superuser, so PostgreSQL holds it to
#: its CONNECTION LIMIT: the demo cannot take every session of a shared server.
SITE_ROLE = "multipool_demo"
#: What an outbound HTTP call costs the async view (demo/views.py).
UPSTREAM_SECONDS = 0.2


@dataclass(frozen=True)
class DemoEnv:
    #: Server DSN; its user and database are the admin ones (CREATE DATABASE,
    #: pg_stat_activity).
    dsn: str
    #: Database the site uses; created and migrated by ``python -m demo``.
    database: str
    #: OPTIONS["pool"]["max_size"] of the site's pool, wherever there is one.
    max_size: int
    #: Which DATABASES entry the site runs (a key of ``demo.configs.CONFIGS``).
    config: str = "ours-request"
    #: The site role's password, made up per run (empty: connect as the DSN's user).
    site_password: str = ""
    #: How long a request waits for a pooled connection before PoolTimeout.
    pool_timeout: float = 20.0

    @classmethod
    def from_environ(cls) -> DemoEnv:
        return cls(
            dsn=os.environ.get("MULTIPOOL_POSTGRESQL_DSN") or DEFAULT_DSN,
            database=os.environ.get("MULTIPOOL_DEMO_DATABASE") or "multipool_demo",
            max_size=int(os.environ.get("MULTIPOOL_DEMO_MAX_SIZE") or 10),
            config=os.environ.get("MULTIPOOL_DEMO_CONFIG") or "ours-request",
            site_password=os.environ.get("MULTIPOOL_DEMO_SITE_PASSWORD") or "",
            pool_timeout=float(os.environ.get("MULTIPOOL_DEMO_POOL_TIMEOUT") or 20),
        )

    def for_site(self, config: str, *, pool_timeout: float | None = None) -> dict[str, str]:
        """The environment a server process of configuration ``config`` reads."""
        return {
            "MULTIPOOL_POSTGRESQL_DSN": self.dsn,
            "MULTIPOOL_DEMO_DATABASE": self.database,
            "MULTIPOOL_DEMO_MAX_SIZE": str(self.max_size),
            "MULTIPOOL_DEMO_CONFIG": config,
            "MULTIPOOL_DEMO_SITE_PASSWORD": self.site_password,
            "MULTIPOOL_DEMO_POOL_TIMEOUT": str(pool_timeout or self.pool_timeout),
        }

    def connect_kwargs(self, database: str | None = None) -> dict[str, object]:
        """psycopg.connect() arguments for ``database`` (default: the DSN's own), as the admin."""
        parts = urlsplit(self.dsn)
        return {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password or ""),
            "dbname": database or parts.path.lstrip("/") or "postgres",
        }

    def site_connect_kwargs(self) -> dict[str, object]:
        """What the site connects with: the demo database, as the site role."""
        kwargs = self.connect_kwargs(self.database)
        if self.site_password:
            kwargs.update(user=SITE_ROLE, password=self.site_password)
        return kwargs
