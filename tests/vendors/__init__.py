"""THE table of vendors. Stdlib only: the noxfile imports it too.

Adding a vendor adds one row here; conftest, the contract suite and the nox
matrix pick it up. Vendor-specific tests (quirks only) live beside this file
as ``tests/vendors/test_<vendor>*.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The two MySQL ENGINEs: mysqlclient (Django's driver, the default) and
#: mysql-connector-python. MULTIPOOL_MYSQL_ENGINE picks the one the "mysql"
#: vendor's tests run on; nox runs the contract suite on both.
MYSQL_ENGINES = {
    "mysqlclient": "django_multipool.backends.mysql",
    "mysql-connector": "django_multipool.backends.mysql_connector",
}
MYSQL_ENGINE_ENV = "MULTIPOOL_MYSQL_ENGINE"


def mysql_engine() -> str:
    """The MySQL ENGINE under test: a key of MYSQL_ENGINES, or an ENGINE path."""
    chosen = os.environ.get(MYSQL_ENGINE_ENV, "mysqlclient")
    if chosen in MYSQL_ENGINES.values():
        return chosen
    try:
        return MYSQL_ENGINES[chosen]
    except KeyError:
        raise ValueError(
            f"{MYSQL_ENGINE_ENV}={chosen!r}; expected one of {sorted(MYSQL_ENGINES)}"
        ) from None


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
            engine=mysql_engine(),
            extra="mysql" if mysql_engine() == MYSQL_ENGINES["mysqlclient"] else "mysql-connector",
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
