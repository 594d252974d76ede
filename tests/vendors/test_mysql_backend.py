"""The Django side of the MySQL backend: per-checkout cost, settings, fork.

Round trips are counted by the server (the session's Questions and
Com_admin_commands, which counts COM_PING), on the pool's only connection.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from ..probes import Probe
from ..servers import Server, find_server
from . import MYSQL_ENGINES

pytestmark = [pytest.mark.vendor, pytest.mark.parametrize("vendor", ["mysql"], indirect=True)]


@pytest.fixture(scope="session")
def server(vendor: str) -> Server:
    """This module is about the mysql-connector ENGINE, whichever the suite runs on."""
    found, _ = find_server(vendor)
    assert found is not None
    return found.with_engine(MYSQL_ENGINES["mysql-connector"])


_COUNTERS = "('Questions', 'Com_admin_commands')"


def server_commands(raw: Any) -> int:
    raw.cmd_query(f"SHOW SESSION STATUS WHERE Variable_name IN {_COUNTERS}")
    return sum(int(value) for _, value in raw.get_rows()[0])


def round_trips(wrapper: Any, cycle: Any, cycles: int = 20) -> int:
    """Server commands while ``cycle`` ran ``cycles`` times (reading excluded)."""
    wrapper.ensure_connection()
    before = server_commands(wrapper.connection)
    reading = server_commands(wrapper.connection) - before
    wrapper.close()
    for _ in range(cycles):
        cycle()
    wrapper.ensure_connection()
    after = server_commands(wrapper.connection)
    wrapper.close()
    return after - before - 2 * reading


def test_a_django_checkout_costs_no_round_trip(make_wrapper: Any) -> None:
    wrapper = make_wrapper(min_size=1, max_size=1)

    def checkout() -> None:
        wrapper.ensure_connection()
        wrapper.close()

    checkout()  # the first one asks the server its version, once per wrapper
    assert round_trips(wrapper, checkout) == 0


def test_the_count_sees_pings(make_wrapper: Any) -> None:
    # The control: the same count shows the ping check=True adds.
    wrapper = make_wrapper(min_size=1, max_size=1, check=True)

    def checkout() -> None:
        wrapper.ensure_connection()
        wrapper.close()

    checkout()
    assert round_trips(wrapper, checkout) == 20 + 1  # + the checkout that reads


def test_a_query_costs_one_round_trip(make_wrapper: Any) -> None:
    # mysql-connector's cursor() pings before every cursor; ours does not.
    wrapper = make_wrapper(min_size=1, max_size=1)

    def query() -> None:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
        wrapper.close()

    query()
    assert round_trips(wrapper, query) == 20


def test_closing_mid_transaction_hands_back_a_clean_autocommit_connection(
    make_wrapper: Any, probe: Probe
) -> None:
    probe.execute_in_test_db("CREATE TABLE IF NOT EXISTS multipool_backend_t (x int)")
    wrapper = make_wrapper(min_size=1, max_size=1)
    wrapper.set_autocommit(False)  # what atomic() does on the outermost block
    with wrapper.cursor() as cursor:
        cursor.execute("INSERT INTO multipool_backend_t VALUES (1)")
    assert wrapper.connection.in_transaction
    wrapper.close()  # mid-transaction: the pool rolls back
    wrapper.ensure_connection()
    assert wrapper.get_autocommit() is True
    assert not wrapper.connection.in_transaction
    with wrapper.cursor() as cursor:
        # Two statements: MariaDB 10.11 reports a system variable as 0 in
        # an aggregate over an empty table.
        cursor.execute("SELECT @@session.autocommit")
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT count(*) FROM multipool_backend_t")
        assert cursor.fetchone() == (0,)
    wrapper.close()


def test_session_setup_runs_once_per_physical_connection(make_wrapper: Any) -> None:
    wrapper = make_wrapper(
        pool={"min_size": 1, "max_size": 1},
        settings={"OPTIONS": {"isolation_level": "serializable"}},
    )
    wrapper.ensure_connection()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT @@session.tx_isolation")  # MariaDB's name
        assert cursor.fetchone() == ("SERIALIZABLE",)
    wrapper.close()

    def checkout() -> None:
        wrapper.ensure_connection()
        wrapper.close()

    assert round_trips(wrapper, checkout) == 0


@pytest.mark.parametrize("key", ["pool_size", "pool_name", "pool_reset_session"])
def test_mysql_connectors_own_pool_options_are_refused(make_wrapper: Any, key: str) -> None:
    value = {"pool_size": 5, "pool_name": "x", "pool_reset_session": True}[key]
    wrapper = make_wrapper(settings={"OPTIONS": {key: value}})
    with pytest.raises(ImproperlyConfigured) as caught:
        wrapper.ensure_connection()
    message = str(caught.value)
    assert f"['OPTIONS'][{key!r}]" in message
    assert "OPTIONS['pool']" in message


def test_use_pure_false_is_refused_with_the_reason(make_wrapper: Any) -> None:
    wrapper = make_wrapper(settings={"OPTIONS": {"use_pure": False}})
    with pytest.raises(ImproperlyConfigured, match=r"use_pure.*fork"):
        wrapper.ensure_connection()


def test_pool_false_gives_plain_connector_connections(make_wrapper: Any, probe: Probe) -> None:
    wrapper = make_wrapper(pool=False)
    assert wrapper.pool is None
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert wrapper.mysql_is_mariadb is True
    wrapper.close()


def test_fork_child_never_touches_an_unpooled_parent_connection(
    make_wrapper: Any, probe: Probe
) -> None:
    # mysql-connector's socket finaliser shuts the socket down: a child that
    # merely dropped the inherited connection would end the parent's session.
    wrapper = make_wrapper(pool=False)
    with wrapper.cursor() as cursor:
        cursor.execute(probe.backend_id_sql)
        parent_id = cursor.fetchone()[0]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        import gc

        code = 1
        try:
            wrapper.close()  # the inherited connection was forgotten: nothing to close
            gc.collect()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with wrapper.cursor() as cursor:
        cursor.execute(probe.backend_id_sql)
        assert cursor.fetchone()[0] == parent_id
    wrapper.close()


@pytest.mark.parametrize("release", ["request", "transaction"])
def test_a_query_while_a_chunked_read_is_open_loses_no_rows(
    make_wrapper: Any, release: str
) -> None:
    # As a loop over .iterator() that runs a query per row (or django-silk's
    # EXPLAIN after each query): the outer read must still see every row, as
    # under Django's own MySQL backend (mysqlclient reads results whole).
    wrapper = make_wrapper(release=release)
    outer = wrapper.chunked_cursor()
    try:
        outer.execute("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4")
        seen = [row[0] for row in outer.fetchmany(2)]
        with wrapper.cursor() as inner:
            inner.execute("SELECT 42")
            assert inner.fetchone() == (42,)
        seen += [row[0] for row in outer.fetchall()]
    finally:
        outer.close()
    assert seen == [1, 2, 3, 4]


def test_an_attribute_error_inside_a_property_shows_as_itself(make_wrapper: Any) -> None:
    wrapper = make_wrapper()

    class Broken(type(wrapper)):  # type: ignore[misc]
        @property
        def sql_mode(self) -> Any:
            return self.no_such_thing_inside  # an AttributeError while computing

    broken = Broken(wrapper.settings_dict, wrapper.alias)
    with pytest.raises(AttributeError, match="no_such_thing_inside"):
        broken.sql_mode  # noqa: B018
