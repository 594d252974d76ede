"""The Django layer on every vendor: the pool behind a DatabaseWrapper of our ENGINE."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_multipool.backends.registry import registry

from ..probes import Probe
from ..servers import TEST_DATABASE
from .test_pool_contract import wait_until

pytestmark = pytest.mark.vendor

DATABASE_NAME_SQL = {
    "postgresql": "SELECT current_database()",
    "mysql": "SELECT DATABASE()",
    "oracle": "SELECT USER FROM dual",
}


def server_database(wrapper: Any) -> str:
    with wrapper.cursor() as cursor:
        cursor.execute(DATABASE_NAME_SQL[wrapper.vendor])
        return str(cursor.fetchone()[0])


def test_close_gives_the_connection_back(make_wrapper: Any) -> None:
    wrapper = make_wrapper(min_size=1, max_size=2)
    server_database(wrapper)
    pool = wrapper.pool
    assert pool.checked_out == 1
    wrapper.close()
    assert wrapper.connection is None
    assert pool.checked_out == 0
    # pool_size also counts connections still being opened in the background.
    assert wait_until(lambda: pool.stats().pool_available == pool.stats().pool_size)


def test_a_settings_change_builds_a_new_pool_on_the_new_database(
    vendor: str, make_wrapper: Any, probe: Probe
) -> None:
    if vendor == "oracle":
        pytest.skip("Oracle has no databases to switch; the runner test covers its test user")
    probe.ensure_database("multipool_test_other")
    wrapper = make_wrapper(min_size=1, max_size=2)
    assert server_database(wrapper) == TEST_DATABASE
    old_pool = wrapper.pool
    wrapper.close()
    # What create_test_db() and parallel test workers do: edit NAME in place.
    wrapper.settings_dict["NAME"] = "multipool_test_other"
    assert server_database(wrapper) == "multipool_test_other"
    assert wrapper.pool is not old_pool
    assert old_pool.closed


def test_an_in_place_edit_of_the_pool_options_is_seen(make_wrapper: Any) -> None:
    wrapper = make_wrapper(min_size=0, max_size=2)
    server_database(wrapper)
    wrapper.close()
    wrapper.settings_dict["OPTIONS"]["pool"]["max_size"] = 3
    server_database(wrapper)
    assert wrapper.pool.config.max_size == 3


def test_a_connection_goes_back_to_the_pool_it_came_from(make_wrapper: Any) -> None:
    wrapper = make_wrapper(min_size=0, max_size=2)
    server_database(wrapper)
    lender = wrapper.pool
    registry.close(wrapper.alias)  # retired while the connection is out
    wrapper.close()
    assert lender.closed and lender.checked_out == 0


def test_concurrent_first_queries_build_one_pool(make_wrapper: Any) -> None:
    from django.db.utils import load_backend

    first = make_wrapper(min_size=0, max_size=5, timeout=10)
    seen: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def query() -> None:
        # Each thread has its own wrapper for the alias, as Django's are per thread.
        wrapper = load_backend(first.settings_dict["ENGINE"]).DatabaseWrapper(
            first.settings_dict, first.alias
        )
        try:
            barrier.wait()
            server_database(wrapper)
            seen.append(wrapper.pool)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            wrapper.close()

    threads = [threading.Thread(target=query) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(seen) == 8 and len({id(p) for p in seen}) == 1


def test_request_threads_on_one_alias_share_its_cap_and_all_get_served(
    make_alias: Any, probe: Probe
) -> None:
    # What a threaded WSGI server does: every request thread uses its own
    # thread-local connections[alias], closed at the request's end, and all
    # of them borrow from the process's one pool.
    from django.db import connections

    alias = make_alias("request_threads", TEST_DATABASE, min_size=0, max_size=5, timeout=30)
    threads, requests = 50, 20
    served = [0] * threads
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)
    done = threading.Event()
    peak = 0

    def request_thread(n: int) -> None:
        connection = connections[alias]
        try:
            start.wait()
            for _ in range(requests):
                server_database(connection)
                time.sleep(0.002)  # the rest of the request, connection still held
                connection.close()  # request_finished
                served[n] += 1
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=request_thread, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    while not done.is_set():
        peak = max(peak, probe.count_connections())
        if not any(worker.is_alive() for worker in workers):
            done.set()
    for worker in workers:
        worker.join(60)
    assert errors == []
    assert served == [requests] * threads
    assert 1 <= peak <= 5
    pool = connections[alias].pool
    assert pool.checked_out == 0
    assert pool.stats().requests_num >= threads * requests


def test_conn_max_age_with_a_pool_is_refused_at_the_first_query(make_wrapper: Any) -> None:
    wrapper = make_wrapper(max_size=2, settings={"CONN_MAX_AGE": 60})
    with pytest.raises(ImproperlyConfigured, match="CONN_MAX_AGE"):
        wrapper.ensure_connection()


def test_a_bad_pool_option_is_refused_at_the_first_query(make_wrapper: Any) -> None:
    wrapper = make_wrapper(pool={"max_sise": 2})
    with pytest.raises(ImproperlyConfigured, match="Did you mean 'max_size'"):
        wrapper.ensure_connection()


def test_pool_false_means_plain_connections(make_wrapper: Any, probe: Probe) -> None:
    wrapper = make_wrapper(pool=False)
    assert wrapper.pool is None
    assert server_database(wrapper)
    assert registry.current(wrapper.alias) is None
    wrapper.close()


def test_close_mid_transaction_rolls_back_and_returns_the_connection(
    make_wrapper: Any, probe: Probe
) -> None:
    probe.execute_in_test_db("DROP TABLE IF EXISTS multipool_atomic")
    probe.execute_in_test_db("CREATE TABLE multipool_atomic (x int)")
    wrapper = make_wrapper(min_size=1, max_size=1, timeout=5)
    wrapper.set_autocommit(False)
    with wrapper.cursor() as cursor:
        cursor.execute("INSERT INTO multipool_atomic VALUES (1)")
    pool = wrapper.pool
    wrapper.close()  # uncommitted: the pool rolls it back, it is never committed
    assert probe.execute_in_test_db("SELECT count(*) FROM multipool_atomic")[0][0] == 0
    assert pool.checked_out == 0
    assert wrapper.connection is None
