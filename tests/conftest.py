"""Django settings for the test run and the fixtures that reach live servers.

Live tests take the ``vendor`` fixture (parametrized over tests/vendors.py).
A vendor without a server is skipped with the reason, unless
``MULTIPOOL_REQUIRE`` names it: then the test fails, so CI cannot go green
by skipping.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
from django.conf import settings

from . import pgbouncer
from .probes import Probe, probe_class
from .servers import Server, find_server, required_vendors, selected_vendors


def pytest_configure(config: pytest.Config) -> None:
    if not settings.configured:
        settings.configure(
            DATABASES={},
            INSTALLED_APPS=["django.contrib.contenttypes", "django_multipool"],
            USE_TZ=True,
            TIME_ZONE="UTC",
            SECRET_KEY="tests-only",
            DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        )
        django.setup()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Behind PgBouncer, the tests about server sessions cannot apply: each one
    # is skipped with the reason (tests/pgbouncer.py lists them).
    mode = pgbouncer.mode_from_environment()
    if mode is None:
        return
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("vendor") != "postgresql":
            continue
        why = pgbouncer.not_applicable(getattr(item, "originalname", item.name), mode)
        if why is not None:
            item.add_marker(pytest.mark.skip(reason=f"behind PgBouncer ({mode} mode): {why}"))


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"django {django.get_version()}"]
    for name in selected_vendors():
        server, why = find_server(name)
        lines.append(f"{name}: {server.dsn().split('@')[-1] if server else why}")
    mode = pgbouncer.mode_from_environment()
    if mode is not None:
        lines.append(f"postgresql: through a PgBouncer of this run's own, {mode} mode")
    return lines


@pytest.fixture(params=selected_vendors(), scope="session")
def vendor(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    server, why = find_server(name)
    if server is None:
        if name in required_vendors():
            pytest.fail(f"MULTIPOOL_REQUIRE names {name}, but {why}")
        pytest.skip(why)
    probe_class(name)(server).ensure_database()
    return name


@pytest.fixture(scope="session")
def server(vendor: str, request: pytest.FixtureRequest) -> Server:
    """Where the tests' DATABASES entries point.

    With ``MULTIPOOL_PGBOUNCER=transaction|session``, PostgreSQL's is a
    PgBouncer of the run's own in front of the server (tests/pgbouncer.py).
    """
    found, _ = find_server(vendor)
    assert found is not None
    if vendor == "postgresql" and pgbouncer.mode_from_environment() is not None:
        behind: Server = request.getfixturevalue("pgbouncer_in_front")
        return behind
    return found


@pytest.fixture(scope="session")
def pgbouncer_in_front() -> Iterator[Server]:
    mode = pgbouncer.mode_from_environment()
    assert mode is not None
    if pgbouncer.binary() is None:
        pytest.fail(f"MULTIPOOL_PGBOUNCER={mode}, but {pgbouncer.missing_reason()}")
    found, _ = find_server("postgresql")
    assert found is not None
    bouncer = pgbouncer.PgBouncer(found, mode).start()
    server = bouncer.server
    if mode == "transaction":
        # What a site behind a transaction pooler sets (docs/scaling.md).
        server.pool_defaults = {"behind": "pgbouncer-transaction"}
        server.entry_defaults = {"DISABLE_SERVER_SIDE_CURSORS": True}
    try:
        yield server
    finally:
        bouncer.stop()


@pytest.fixture(scope="session")
def probe(vendor: str) -> Probe:
    # The server itself, also when the tests' connections go through PgBouncer.
    found, _ = find_server(vendor)
    assert found is not None
    return probe_class(vendor)(found)


_aliases = itertools.count()


@pytest.fixture
def make_wrapper(server: Server) -> Iterator[Callable[..., Any]]:
    """Build DatabaseWrappers of our ENGINE on ``server``; pools closed after the test.

    ``make_wrapper(max_size=2, timeout=0.5)`` sets OPTIONS["pool"]; pass
    ``pool=...`` to set it whole, and ``settings=dict`` to override entries.
    """
    from django.db.utils import load_backend

    from django_multipool.backends.registry import registry

    made: list[Any] = []

    def make(
        *,
        pool: Any = None,
        alias: str | None = None,
        settings: dict[str, Any] | None = None,
        **pool_options: Any,
    ) -> Any:
        entry = server.settings(**(settings or {}))
        entry["OPTIONS"]["pool"] = server.pool_option(pool if pool is not None else pool_options)
        wrapper = load_backend(entry["ENGINE"]).DatabaseWrapper(
            entry, alias or f"t{next(_aliases)}"
        )
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        wrapper.close()
        registry.close(wrapper.alias)


@pytest.fixture
def make_pool(make_wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """An open PoolAdapter built the way the backend builds it."""

    def make(**pool_options: Any) -> Any:
        return make_wrapper(**pool_options).pool

    return make


@pytest.fixture
def make_alias(server: Server) -> Iterator[Callable[..., str]]:
    """Register aliases in django.db.connections, as a site's DATABASES would.

    For what looks an alias up by name: ``pinned()``, ``atomic(using=...)``,
    the thread-local wrappers of ``connections[alias]``. ``make_alias(name,
    database, **pool)``; each is closed and unregistered after the test.
    """
    from django.db import connections

    from django_multipool.backends.registry import registry

    made: list[str] = []

    def make(name: str, database: str, **pool: Any) -> str:
        entry = server.settings(name=database)
        entry["OPTIONS"]["pool"] = server.pool_option(pool)
        connections.settings[name] = entry
        made.append(name)
        return name

    yield make
    for name in made:
        connections[name].close()
        del connections[name]
        del connections.settings[name]
        registry.close(name)
