"""The debug-toolbar PoolPanel's numbers, on real pools of every vendor, without a browser.

The tally is installed on the thread's ``connections[alias]`` as the panel
does for each request, and the statements are ``connection.cursor()``'s.
tests/browser/test_pool_panel.py loads the same panel in Chromium; the last
test here fetches it over HTTP the way the toolbar's JavaScript does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from django.db import OperationalError, connections, transaction

from django_multipool import pinned
from django_multipool.backends.registry import registry
from django_multipool.contrib.debug_toolbar import INSTRUMENTED, PoolPanel, RequestTally, pool_rows

from .servers import TEST_DATABASE

pytestmark = pytest.mark.vendor


def select(alias: str, n: int = 1) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT %s", [n])
        (value,) = cursor.fetchone()
    return int(value)


@pytest.fixture
def tallied(make_alias: Callable[..., str]) -> Iterator[Callable[..., tuple[str, RequestTally]]]:
    """``tallied(name, **pool)``: an alias whose wrapper counts, as the panel's do."""
    installed: list[Any] = []

    def make(
        alias_name: str, *, pool_name: str | None = None, **pool: Any
    ) -> tuple[str, RequestTally]:
        alias = make_alias(alias_name, TEST_DATABASE, **pool)
        if pool_name is not None:  # make_alias' first argument is called name
            connections.settings[alias]["OPTIONS"]["pool"]["name"] = pool_name
        wrapper = connections[alias]
        installed.append(wrapper)
        return alias, RequestTally().install(wrapper)

    yield make
    for wrapper in installed:
        RequestTally.uninstall(wrapper)


def row_of(alias: str, tally: RequestTally) -> dict[str, Any]:
    [row] = pool_rows({alias: (connections[alias], tally)})
    return row


def test_request_mode_checks_out_once_and_holds_until_the_request_ends(
    vendor: str, tallied: Callable[..., tuple[str, RequestTally]]
) -> None:
    alias, tally = tallied("tb_request", release="request", max_size=4)
    for n in range(3):
        assert select(alias, n) == n
    with transaction.atomic(using=alias):
        select(alias)
    row = row_of(alias, tally)
    assert (row["checkouts"], row["retakes"], row["releases"], row["failed"]) == (1, 0, 0, 0)
    assert row["wait_ms"] > 0 and row["max_wait_ms"] == row["wait_ms"]
    assert row["release"] == "request" and row["name"] == alias and row["vendor"] == vendor
    assert row["released_between_statements"].startswith('no: release="request"')
    pool = row["pool"]
    assert pool["in_use"] == 1 and pool["max_size"] == 4 and pool["waiting"] == 0
    assert pool["size"] == pool["available"] + pool["in_use"] or pool["size"] > pool["in_use"]


def test_transaction_mode_counts_each_release_between_statements(
    vendor: str, tallied: Callable[..., tuple[str, RequestTally]]
) -> None:
    alias, tally = tallied("tb_transaction", release="transaction")
    for n in range(3):
        select(alias, n)
    with transaction.atomic(using=alias):  # one loan for the block
        select(alias)
        select(alias)
    row = row_of(alias, tally)
    # Four loans: three statements and one block, each given back after.
    # The first is a checkout; the others take back the parked connection,
    # or check one out where the adapter does not park.
    assert row["releases"] == 4
    assert row["checkouts"] >= 1 and row["checkouts"] + row["retakes"] == 4
    assert row["released_between_statements"].startswith("yes, 4 times")
    assert row["pool"]["in_use"] == 0  # given back: nothing holds it between requests' statements


def test_a_pinned_block_or_session_state_keeps_the_connection(
    vendor: str, tallied: Callable[..., tuple[str, RequestTally]]
) -> None:
    alias, tally = tallied("tb_pinned", release="transaction")
    with pinned(alias):
        for n in range(3):
            select(alias, n)
    assert (tally.releases, tally.checkouts + tally.retakes) == (1, 1)

    held_alias, held = tallied("tb_held", release="transaction")
    with connections[held_alias].cursor() as cursor:
        cursor.execute("SET @tb = 1" if vendor == "mysql" else "SET application_name = 'tb'")
    select(held_alias)
    row = row_of(held_alias, held)
    assert row["releases"] == 0 and row["checkouts"] == 1
    assert row["released_between_statements"].startswith("no: held until the request ends")
    assert "SET" in row["released_between_statements"]


def test_a_checkout_that_times_out_is_counted_with_its_wait(
    vendor: str, tallied: Callable[..., tuple[str, RequestTally]]
) -> None:
    alias, tally = tallied("tb_timeout", min_size=1, max_size=1, timeout=0.3)
    pool = connections[alias].pool
    held = pool.acquire()
    try:
        with pytest.raises(OperationalError, match="couldn't get a connection"):
            select(alias)
    finally:
        pool.release(held)
    row = row_of(alias, tally)
    assert (row["checkouts"], row["failed"]) == (1, 1)
    assert row["wait_ms"] >= 250 and row["pool"]["waiting"] == 0


def test_only_this_threads_checkouts_count(
    vendor: str, tallied: Callable[..., tuple[str, RequestTally]]
) -> None:
    alias, tally = tallied("tb_threads", release="request")
    select(alias)
    other = threading.Thread(target=lambda: (select(alias), connections[alias].close()))
    other.start()
    other.join(10)
    assert tally.checkouts == 1
    assert connections[alias].pool.stats().requests_num == 2  # the pool saw both


def test_a_pool_not_open_is_shown_and_not_opened(
    vendor: str, tallied: Callable[..., tuple[str, RequestTally]]
) -> None:
    alias, tally = tallied("tb_unused", release="transaction", pool_name="unused-pool")
    row = row_of(alias, tally)
    assert row["pool"] is None and row["name"] == "unused-pool"
    assert row["released_between_statements"] == "no: the request ran no statement on this alias"
    assert alias not in dict(registry.items())


def test_uninstall_leaves_the_wrapper_as_it_was(
    vendor: str, tallied: Callable[..., tuple[str, RequestTally]]
) -> None:
    alias, tally = tallied("tb_restore", release="transaction")
    wrapper = connections[alias]
    assert RequestTally().install(wrapper) is tally  # installed once
    assert all(name in wrapper.__dict__ for name in INSTRUMENTED)
    RequestTally.uninstall(wrapper)
    assert not any(name in wrapper.__dict__ for name in (*INSTRUMENTED, "_multipool_tally"))
    select(alias)
    assert tally.checkouts == 0


class _Cells(HTMLParser):
    """{(alias, field): text} of the panel's ``data-field`` cells."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self._alias = ""
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("data-alias"):
            self._alias = found["data-alias"] or ""
        if tag == "td" and found.get("data-field"):
            self._field = found["data-field"]
            self.cells[(self._alias, self._field)] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self.cells[(self._alias, self._field)] += data


def panel_cells(html: str) -> dict[tuple[str, str], str]:
    parser = _Cells()
    parser.feed(html)
    return {key: re.sub(r"\s+", " ", text).strip() for key, text in parser.cells.items()}


def test_the_panel_renders_its_rows_without_the_app_installed() -> None:
    row = {
        "alias": "default",
        "vendor": "postgresql",
        "name": "main",
        "release": "transaction",
        "checkouts": 2,
        "failed": 0,
        "wait_ms": 1.25,
        "max_wait_ms": 1.0,
        "releases": 5,
        "retakes": 3,
        "held_for": None,
        "released_between_statements": "yes, 5 times (3 taken back without a checkout)",
        "pool": {
            "size": 3,
            "available": 2,
            "in_use": 1,
            "waiting": 0,
            "min_size": 1,
            "max_size": 9,
        },
    }
    panel = PoolPanel.__new__(PoolPanel)
    panel.get_stats = lambda: {"pools": [row, {**row, "alias": "<b>x</b>", "pool": None}]}
    html = panel.content
    cells = panel_cells(html)
    assert cells[("default", "checkouts")] == "2"
    assert cells[("default", "wait_ms")] == "1.250 ms (longest 1.000 ms)"
    assert cells[("default", "released")].startswith("yes, 5 times")
    assert cells[("default", "limits")] == "1 / 9"
    assert cells[("<b>x</b>", "not_open")].startswith("Not open in this process")
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html  # escaped
    assert 'release="transaction"' in html
    assert panel.nav_subtitle == "4 checkouts, 2.5 ms"


# -- the panel as the toolbar serves it -------------------------------------------------------


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def site(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, Any]]]:
    from .toolbar_site.running import running_site, site_databases

    databases = site_databases()
    with running_site(databases, asgi=request.param == "asgi") as url:
        yield url, databases


@pytest.mark.parametrize("view", ["", "async/"])
def test_the_toolbar_serves_the_panel_for_each_alias(
    site: tuple[str, dict[str, Any]], view: str
) -> None:
    import json

    from .toolbar_site.running import expected_cells, get

    url, databases = site
    for attempt in range(2):  # the first request opens the pools; the second finds them open
        page = get(f"{url}/{view}")
        assert 'id="djDebug"' in page and "PoolPanel" in page
        request_id = re.search(r'data-request-id="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
        panel = json.loads(
            get(f"{url}/__debug__/render_panel/?request_id={request_id}&panel_id=PoolPanel")
        )
        cells = panel_cells(panel["content"])
        for alias, entry in databases.items():
            release = entry["OPTIONS"]["pool"]["release"]
            for field, text in expected_cells(release).items():
                assert cells[(alias, field)].startswith(text), (attempt, alias, field, cells)
            checkouts = int(cells[(alias, "checkouts")])
            assert checkouts == 1 if release == "request" else checkouts >= 1
            limits = f"1 / {entry['OPTIONS']['pool']['max_size']}"
            assert cells[(alias, "limits")] == limits
            # The request's own connection is out while the page renders, in request mode.
            assert cells[(alias, "in_use")] == ("1" if release == "request" else "0")
