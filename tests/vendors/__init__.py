"""THE table of vendors. Stdlib only: the noxfile imports it too.

Adding a vendor adds one row here; conftest, the contract suite and the nox
matrix pick it up.
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
    )
}
