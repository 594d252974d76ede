"""Fixtures of the fault tests: private restartable servers, a faulty proxy, pools on them.

- ``restartable``: a server of the vendor this test run owns and may restart
  (tests/reliability/private_servers.py). Never the shared server of
  ``MULTIPOOL_<VENDOR>_DSN``. Skipped with what to install when it cannot be
  started, failed instead when ``MULTIPOOL_REQUIRE`` names the vendor.
- ``proxy``: a :class:`FaultyProxy` in front of the shared server.
- ``pool_on`` / ``wrapper_on``: pools and DatabaseWrappers of our ENGINE on
  any server, built the way the backend builds them, closed after the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db.utils import load_backend

from django_multipool.backends.registry import registry

from ..probes import probe_class
from ..servers import Server, required_vendors, selected_vendors
from .private_servers import PrivateServer, find_private_server
from .proxy import FaultyProxy

_aliases = itertools.count()


@pytest.fixture(params=selected_vendors(), scope="session")
def restartable(request: pytest.FixtureRequest) -> Iterator[PrivateServer]:
    name: str = request.param
    private, why = find_private_server(name)
    if private is None:
        if name in required_vendors():
            pytest.fail(f"MULTIPOOL_REQUIRE names {name}, but {why}")
        pytest.skip(why)
    try:
        private.start()
        assert private.server is not None
        probe_class(name)(private.server).ensure_database()
        yield private
    finally:
        private.destroy()


@pytest.fixture
def proxy(server: Server) -> Iterator[FaultyProxy]:
    with FaultyProxy(server.host, server.port or _DEFAULT_PORTS[server.vendor.name]) as made:
        yield made


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "oracle": 1521}


@pytest.fixture
def wrapper_on() -> Iterator[Callable[..., Any]]:
    """``wrapper_on(server, settings={...}, **pool)``: a DatabaseWrapper of our ENGINE.

    Wrappers may be used from any thread; pools are closed after the test.
    """
    made: list[Any] = []

    def make(
        server: Server,
        *,
        alias: str | None = None,
        settings: dict[str, Any] | None = None,
        **pool: Any,
    ) -> Any:
        entry = server.settings(**(settings or {}))
        entry["OPTIONS"]["pool"] = pool or True
        wrapper = load_backend(entry["ENGINE"]).DatabaseWrapper(
            entry, alias or f"r{next(_aliases)}"
        )
        wrapper.inc_thread_sharing()
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        wrapper.close()
        registry.close(wrapper.alias)


@pytest.fixture
def pool_on(wrapper_on: Callable[..., Any]) -> Callable[..., Any]:
    """``pool_on(server, settings={...}, **pool)``: an open pool, built as the backend does."""

    def make(server: Server, *, settings: dict[str, Any] | None = None, **pool: Any) -> Any:
        return wrapper_on(server, settings=settings, **pool).pool

    return make
