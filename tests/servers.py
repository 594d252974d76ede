"""Find a live server per vendor: a DSN from the environment, else a container.

Order: ``MULTIPOOL_<VENDOR>_DSN``; else testcontainers when a Docker engine
answers; else ``None`` with the reason (the caller skips, or fails when
``MULTIPOOL_REQUIRE`` names the vendor).
"""

from __future__ import annotations

import atexit
import dataclasses
import os
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import unquote, urlsplit

from .vendors import VENDORS, Vendor

#: Database the tests own: created if missing, used by every live test.
TEST_DATABASE = "multipool_test"


@dataclass
class Server:
    vendor: Vendor
    host: str
    port: int
    user: str
    password: str
    #: Database/service named in the DSN (the admin connection's).
    database: str
    options: dict[str, Any] = field(default_factory=dict)
    #: OPTIONS["pool"] keys every entry of the tests gets unless it sets them
    #: (behind PgBouncer: ``behind``), and DATABASES keys likewise.
    pool_defaults: dict[str, Any] = field(default_factory=dict)
    entry_defaults: dict[str, Any] = field(default_factory=dict)

    def pool_option(self, pool: Any) -> Any:
        """``OPTIONS["pool"]`` for a test's ``pool`` (a dict, True or False), with the defaults."""
        if pool is False or not self.pool_defaults:
            return pool if pool not in (None, {}) else True
        return {**self.pool_defaults, **(pool if isinstance(pool, dict) else {})}

    def settings(self, *, name: str = TEST_DATABASE, **extra: Any) -> dict[str, Any]:
        """A DATABASES entry for this server (Django's defaults filled in)."""
        entry: dict[str, Any] = {
            "ENGINE": self.vendor.engine,
            "NAME": name,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": self.port,
            "ATOMIC_REQUESTS": False,
            "AUTOCOMMIT": True,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "OPTIONS": dict(self.options),
            "TIME_ZONE": None,
            "TEST": {
                "CHARSET": None,
                "COLLATION": None,
                "MIGRATE": True,
                "MIRROR": None,
                "NAME": None,
            },
        }
        if self.vendor.name == "oracle":
            # Oracle has no databases inside a server: the tests' "database" is
            # a user on the DSN's service, with the admin's password (made by
            # tests/probes/oracle.py). NAME is an Easy Connect string, because
            # with PORT set Django reads NAME as a SID.
            entry.update(NAME=f"{self.host}:{self.port}/{self.database}", USER=name)
            entry.update(HOST="", PORT="")
        entry.update(self.entry_defaults)
        entry.update(extra)
        return entry

    def with_engine(self, engine: str) -> Server:
        """The same server, its DATABASES entries naming another ENGINE of the vendor."""
        return dataclasses.replace(self, vendor=dataclasses.replace(self.vendor, engine=engine))

    def dsn(self) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"{self.vendor.name}://{auth}@{self.host}:{self.port}/{self.database}"


def parse_dsn(vendor: Vendor, dsn: str) -> Server:
    parts = urlsplit(dsn)
    if not parts.hostname:
        raise ValueError(
            f"{vendor.dsn_env}={dsn!r} has no host; expected e.g. {vendor.dsn_example}"
        )
    return Server(
        vendor=vendor,
        host=parts.hostname,
        port=parts.port or 0,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/"),
    )


@cache
def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _start_container(vendor: Vendor) -> Server:
    if vendor.name == "postgresql":
        from testcontainers.postgres import PostgresContainer

        c = PostgresContainer(vendor.image, driver=None)
        c.start()
        atexit.register(c.stop)
        return parse_dsn(vendor, c.get_connection_url())
    if vendor.name == "mysql":
        from testcontainers.mysql import MySqlContainer

        c = MySqlContainer(vendor.image, root_password="test", dbname="mysql")
        c.start()
        atexit.register(c.stop)
        return Server(
            vendor,
            c.get_container_host_ip(),
            int(c.get_exposed_port(3306)),
            "root",
            "test",
            "mysql",
        )
    if vendor.name == "oracle":
        from testcontainers.oracle import OracleDbContainer

        c = OracleDbContainer(vendor.image, oracle_password="test")
        c.start()
        atexit.register(c.stop)
        return Server(
            vendor,
            c.get_container_host_ip(),
            int(c.get_exposed_port(1521)),
            "system",
            "test",
            "FREEPDB1",
        )
    raise LookupError(vendor.name)


@cache
def find_server(name: str) -> tuple[Server | None, str]:
    """Return (server, "") or (None, why there is none)."""
    vendor = VENDORS[name]
    dsn = os.environ.get(vendor.dsn_env)
    if dsn:
        return parse_dsn(vendor, dsn), ""
    if docker_available():
        try:
            return _start_container(vendor), ""
        except Exception as exc:  # pragma: no cover - depends on the machine
            return None, f"starting a {vendor.image} container failed: {exc}"
    return None, (
        f"no {name} server: set {vendor.dsn_env} (e.g. {vendor.dsn_example}) "
        f"or run a Docker engine so testcontainers can start {vendor.image}"
    )


def _names(variable: str) -> list[str]:
    names = [v.strip() for v in os.environ.get(variable, "").split(",") if v.strip()]
    unknown = set(names) - set(VENDORS)
    if unknown:
        raise ValueError(
            f"{variable} names unknown vendors {sorted(unknown)}; known: {list(VENDORS)}"
        )
    return names


def required_vendors() -> set[str]:
    """Vendors whose server must be there (CI): a missing one fails instead of skipping."""
    return set(_names("MULTIPOOL_REQUIRE"))


def selected_vendors() -> list[str]:
    """Vendors to test (MULTIPOOL_VENDORS, default all); nox sets it per session."""
    return _names("MULTIPOOL_VENDORS") or list(VENDORS)
