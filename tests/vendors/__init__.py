"""THE table of vendors. Stdlib only: the noxfile imports it too.

Adding a vendor adds one row here; conftest, the contract suite and the nox
matrix pick it up. Vendor-specific tests (quirks only) live beside this file
as ``tests/vendors/test_<vendor>*.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vendor:
    #: Django's vendor name, also the pytest parameter id and nox session suffix.
    name: str
    #: The ENGINE users write.
    engine: str
    #: pip extra that installs the driver.
    extra: str
    #: Environment variable holding a DSN of a server tests may use.
    dsn_env: str
    #: Example DSN, for skip messages.
    dsn_example: str
    #: testcontainers image used when no DSN is given and a Docker engine answers.
    image: str


VENDORS: dict[str, Vendor] = {
    v.name: v
    for v in (
        Vendor(
            name="postgresql",
            engine="django_multipool.backends.postgresql",
            extra="postgresql",
            dsn_env="MULTIPOOL_POSTGRESQL_DSN",
            dsn_example="postgresql://postgres@127.0.0.1:5432/postgres",
            image="postgres:16-alpine",
        ),
        Vendor(
            name="mysql",
            engine="django_multipool.backends.mysql",
            extra="mysql",
            dsn_env="MULTIPOOL_MYSQL_DSN",
            dsn_example="mysql://root@127.0.0.1:3306/mysql",
            image="mariadb:10.11",
        ),
        Vendor(
            name="oracle",
            engine="django_multipool.backends.oracle",
            extra="oracle",
            dsn_env="MULTIPOOL_ORACLE_DSN",
            dsn_example="oracle://system:secret@127.0.0.1:1521/FREEPDB1",
            image="gvenzl/oracle-free:23-slim-faststart",
        ),
    )
}
