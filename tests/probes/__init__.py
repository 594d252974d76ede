"""Look at a server from the outside: what the pool's own connections cannot tell.

Each vendor has one module here, ``tests/probes/<vendor>.py``, defining a
class named ``Probe`` that subclasses :class:`Probe`; tests get it through
the ``probe`` fixture. A probe uses its own plain driver connection to the admin database,
never the pool under test.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ..servers import TEST_DATABASE, Server


@dataclass(frozen=True)
class SessionState:
    """One kind of state a borrower can leave in a server session, and how to see it.

    ``prepare`` runs first on the probe's own connection (in the test
    database), ``leave`` in the borrower's session, ``read`` in the session
    the next borrower gets. An error from ``read`` counts as a value (a
    prepared statement or temporary table that is gone makes it fail).
    """

    leave: tuple[str, ...]
    read: str
    prepare: tuple[str, ...] = ()


class Probe(ABC):
    #: Every kind of session state that ``reset="session"`` must wipe, by name
    #: (tests/reliability/test_isolation.py runs one test per kind).
    session_states: ClassVar[dict[str, SessionState]] = {}
    #: SQL returning an id of the server session that runs it.
    backend_id_sql: ClassVar[str]
    #: SQL that sets session state a reset must remove, and SQL reading it back.
    session_state_set: ClassVar[list[str]]
    session_state_get: ClassVar[str]

    def __init__(self, server: Server) -> None:
        self.server = server

    def connect(self, database: str | None = None) -> Any:
        """A plain autocommit connection as the server's admin user, never a pool's."""
        raise NotImplementedError(f"{type(self).__name__} has no plain connection to hand out")

    @abstractmethod
    def execute(
        self, sql: str, params: tuple[Any, ...] = (), database: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run SQL on a fresh connection (to the admin database by default)."""

    def execute_in_test_db(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.execute(sql, params, database=TEST_DATABASE)

    @abstractmethod
    def ensure_database(self, name: str = TEST_DATABASE) -> None: ...

    @abstractmethod
    def count_connections(self, database: str = TEST_DATABASE) -> int:
        """Sessions the server has open on ``database``."""

    @abstractmethod
    def kill(self, backend_id: Any) -> None:
        """Terminate a server session from outside."""

    @abstractmethod
    def create_login(self, user: str, password: str, database: str = TEST_DATABASE) -> None:
        """A server login of the tests' own, with this password, allowed into ``database``.

        Run again, it sets the password anew. ``user`` and ``password`` must
        be plain letters and digits: they go into DDL, which takes no binds.
        """

    @abstractmethod
    def sessions(self, database: str = TEST_DATABASE) -> dict[str, int | None]:
        """Sessions open on ``database``: id (as text) -> the client's TCP port.

        Both as the server sees them: what a test compares with what a client
        says about itself.
        """


def probe_class(vendor: str) -> type[Probe]:
    """The Probe subclass in tests/probes/<vendor>.py (one module per vendor)."""
    module = importlib.import_module(f"{__name__}.{vendor}")
    cls: type[Probe] = module.Probe
    return cls
