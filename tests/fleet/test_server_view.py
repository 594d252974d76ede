"""Sessions that name their pool, and ``pool_status --server`` on real servers.

Several processes (tests/fleet/holder.py) each open a pool and hold
sessions of it; the command, in a process of its own as users run it, must
see each pool of each process, add up their ``max_size`` against the
server's limit and say so when the sum can exhaust the server.
MariaDB shows connection attributes only with performance_schema on: the
shared server has it off (the default), so a private server with it on is
started for the MariaDB grouping test.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from django_multipool.identity import PoolIdentity

from ..contract.test_pool_contract import in_forked_child
from ..probes import Probe, probe_class
from ..reliability.private_servers import PrivateMariaDB
from ..servers import Server, required_vendors
from ..vendors import MYSQL_ENGINES

pytestmark = pytest.mark.vendor

REPO = Path(__file__).resolve().parent.parent.parent
DATABASE = "multipool_fleet"


@pytest.fixture
def fleet_database(probe: Probe) -> str:
    probe.ensure_database(DATABASE)
    return DATABASE


@pytest.fixture
def fleet_server(vendor: str, server: Server, request: pytest.FixtureRequest) -> Server:
    """A server that shows every session's identity: MariaDB's needs performance_schema.

    On MySQL the mysql-connector ENGINE: it sends the identity as a
    connection attribute, which mysqlclient cannot send at all.
    """
    if vendor == "mysql":
        private: Server = request.getfixturevalue("mariadb_with_performance_schema")
        return private.with_engine(MYSQL_ENGINES["mysql-connector"])
    probe_class(vendor)(server).ensure_database(DATABASE)
    return server


def entry(server: Server, **pool: Any) -> dict[str, Any]:
    settings = server.settings(name=DATABASE)
    settings["OPTIONS"]["pool"] = {"min_size": 0, "timeout": 10, **pool}
    return settings


@contextlib.contextmanager
def holders(settings: dict[str, Any], processes: int, sessions: int) -> Iterator[list[int]]:
    """``processes`` processes, each holding ``sessions`` sessions of its pool; their pids."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HOLDER_DATABASE": json.dumps(settings),
        "HOLDER_SESSIONS": str(sessions),
    }
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.fleet.holder"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        pids = []
        for process in started:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("ready "), f"holder failed: {line!r}"
            pids.append(int(line.split()[1]))
        yield pids
    finally:
        for process in started:
            assert process.stdin is not None
            process.stdin.close()
        for process in started:
            assert process.wait(30) == 0


def pool_status(
    tmp_path: Path, databases: dict[str, Any], *args: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "fleet_settings.py").write_text(
        "import json, os\n"
        "SECRET_KEY = 'x'\n"
        "USE_TZ = True\n"
        "INSTALLED_APPS = ['django_multipool']\n"
        "DATABASES = json.loads(os.environ['FLEET_DATABASES'])\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "django", "pool_status", "--server", *args],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": "fleet_settings",
            "FLEET_DATABASES": json.dumps(databases),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def other_session(server: Server) -> Any:
    """A session of somebody else's program, on the same database."""
    if server.vendor.name == "postgresql":
        import psycopg

        return psycopg.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            dbname=DATABASE,
            application_name="nightly-report",
        )
    import mysql.connector

    return mysql.connector.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        database=DATABASE,
        conn_attrs={"program_name": "nightly-report"},
    )


def assert_fleet_grouped(server: Server, tmp_path: Path) -> None:
    settings = entry(server, max_size=4, name="web")
    with (
        holders(settings, processes=3, sessions=2) as pids,
        contextlib.closing(other_session(server)),
    ):
        result = pool_status(tmp_path, {"default": settings}, "--json")
        table = pool_status(tmp_path, {"default": settings})
    assert result.returncode == 0, result.stdout + result.stderr
    view = json.loads(result.stdout)["servers"]["default"]
    host = PoolIdentity.of_this_process("web", 4).host
    ours = [g for g in view["groups"] if g["kind"] == "multipool" and g["pid"] in pids]
    assert sorted((g["name"], g["host"], g["pid"]) for g in ours) == sorted(
        ("web", host, pid) for pid in pids
    ), view["groups"]
    if server.vendor.name == "mysql":
        assert view["extra"] == {"administrator": 1, "extra_max_connections": 3}
        assert "extra_max_connections 3" in table.stdout
    else:
        assert set(view["reserved"]) >= {"superuser_reserved_connections"}
    assert view["for_clients"] == view["max_connections"] - sum(view["reserved"].values())
    for group in ours:
        assert (group["max_size"], group["sessions"]) == (4, 2), group
        assert group["active"] + group["idle"] + group["idle_in_transaction"] == 2
        if server.vendor.name == "postgresql":
            # The holder left its first session inside a transaction.
            assert group["idle_in_transaction"] == 1, group
    # Pools of other processes on the server (another test run's) count too.
    elsewhere = [g for g in view["groups"] if g["kind"] == "multipool" and g["pid"] not in pids]
    assert view["pools_seen"] == 3 + len(elsewhere)
    assert view["fleet_max"] == 3 * 4 + sum(g["max_size"] for g in elsewhere)
    assert view["fleet_sessions"] == 3 * 2 + sum(g["sessions"] for g in elsewhere)
    others = [g for g in view["groups"] if g["name"] == "nightly-report"]
    assert [(g["kind"], g["sessions"]) for g in others] == [("other", 1)]
    assert view["identities_visible"] is True and view["exhausts"] is False
    assert view["warnings"] == []
    assert table.returncode == 0, table.stdout + table.stderr
    assert f"together at max_size: {view['fleet_max'] + view['other_sessions']} of" in table.stdout
    assert "WARNING" not in table.stdout


@pytest.mark.usefixtures("fleet_database")
def test_each_session_names_its_pool_size_process_and_host(
    vendor: str, server: Server, make_wrapper: Any
) -> None:
    if vendor == "mysql":
        pytest.skip("MariaDB: test_mariadb_sessions_carry_the_identity_in_program_name")
    wrapper = make_wrapper(max_size=7, name="checkout", settings={"NAME": DATABASE})
    with wrapper.cursor() as cursor:
        cursor.execute(
            "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        )
        [(name,)] = cursor.fetchall()
    assert name == PoolIdentity.of_this_process("checkout", 7).text()
    assert name.startswith(f"multipool:checkout:max7:{os.getpid()}@")


@pytest.mark.usefixtures("fleet_database")
def test_the_users_own_application_name_wins(
    vendor: str, server: Server, make_wrapper: Any
) -> None:
    if vendor == "mysql":
        pytest.skip("PostgreSQL's application_name; MariaDB: see the program_name test")
    wrapper = make_wrapper(
        settings={"NAME": DATABASE, "OPTIONS": {"application_name": "shop-frontend"}}
    )
    with wrapper.cursor() as cursor:
        cursor.execute("SHOW application_name")
        assert cursor.fetchall() == [("shop-frontend",)]


def test_server_view_groups_sessions_by_pool_and_process(
    fleet_server: Server, tmp_path: Path
) -> None:
    assert_fleet_grouped(fleet_server, tmp_path)


def test_warns_and_exits_2_when_the_fleets_maximum_can_exhaust_the_server(
    vendor: str, fleet_server: Server, tmp_path: Path
) -> None:
    server, probe = fleet_server, probe_class(vendor)(fleet_server)
    if vendor == "postgresql":
        [(limit,)] = probe.execute("SELECT current_setting('max_connections')::int")
    else:
        [(limit,)] = probe.execute("SELECT @@max_connections")
    # Two processes whose pools may each take more than half the server.
    max_size = int(limit) // 2 + 1
    settings = entry(server, max_size=max_size)
    with holders(settings, processes=2, sessions=1) as pids:
        result = pool_status(tmp_path, {"default": settings}, "--json")
        table = pool_status(tmp_path, {"default": settings})
    assert result.returncode == 2, result.stdout + result.stderr
    view = json.loads(result.stdout)["servers"]["default"]
    ours = [g["max_size"] for g in view["groups"] if g["pid"] in pids]
    assert view["exhausts"] is True and ours == [max_size, max_size]
    assert view["fleet_max"] >= 2 * max_size
    assert any("more than the" in w for w in view["warnings"]), view["warnings"]
    assert "WARNING: the pools seen may open" in table.stdout
    assert table.returncode == 2


@pytest.mark.usefixtures("fleet_database")
def test_mariadb_without_performance_schema_says_what_it_cannot_see(
    vendor: str, server: Server, probe: Probe, tmp_path: Path
) -> None:
    if vendor != "mysql":
        pytest.skip("MariaDB's performance_schema")
    [(on,)] = probe.execute("SELECT @@performance_schema")
    if on:
        pytest.skip("this MariaDB runs with performance_schema on")
    settings = entry(server, max_size=4)
    with holders(settings, processes=2, sessions=2):
        result = pool_status(tmp_path, {"default": settings}, "--json")
        table = pool_status(tmp_path, {"default": settings})
    assert result.returncode == 0, result.stdout + result.stderr
    view = json.loads(result.stdout)["servers"]["default"]
    assert view["identities_visible"] is False and view["pools_seen"] == 0
    # Grouped by user and client host: the holders' four sessions are there.
    [group] = [g for g in view["groups"] if g["user"] == server.user and g["host"] == "127.0.0.1"]
    assert group["sessions"] >= 4
    assert any("performance_schema is OFF" in note for note in view["notes"])
    assert any("fleet's maximum is unknown" in w for w in view["warnings"])
    assert "Note: performance_schema is OFF" in table.stdout


@pytest.fixture(scope="module")
def mariadb_with_performance_schema() -> Iterator[Server]:
    private, why = PrivateMariaDB.find()
    if private is None:
        if "mysql" in required_vendors():
            pytest.fail(f"MULTIPOOL_REQUIRE names mysql, but {why}")
        pytest.skip(why)
    assert isinstance(private, PrivateMariaDB)
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        extra_port = spare.getsockname()[1]
    # The extra port shows in the limits (administrators' slots beyond max_connections).
    private.server_args += [
        "--performance-schema=ON",
        f"--extra-port={extra_port}",
        "--extra-max-connections=3",
    ]
    try:
        private.start()
        assert private.server is not None
        probe_class("mysql")(private.server).ensure_database(DATABASE)
        yield private.server
    finally:
        private.destroy()


def test_mariadb_sessions_carry_the_identity_in_program_name(
    vendor: str, tmp_path: Path, request: pytest.FixtureRequest, make_wrapper: Any
) -> None:
    if vendor != "mysql":
        pytest.skip("MariaDB only")
    server: Server = request.getfixturevalue("mariadb_with_performance_schema")
    settings = server.with_engine(MYSQL_ENGINES["mysql-connector"]).settings(name=DATABASE)
    own = {**settings, "OPTIONS": {"conn_attrs": {"program_name": "shop-frontend"}}}
    sql = (
        "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs "
        "WHERE PROCESSLIST_ID = CONNECTION_ID() AND ATTR_NAME = 'program_name'"
    )
    for entry_settings, expected in [
        (settings, PoolIdentity.of_this_process("checkout", 7).text()),
        (own, "shop-frontend"),
    ]:
        wrapper = make_wrapper(max_size=7, name="checkout", settings=entry_settings)
        with wrapper.cursor() as cursor:
            cursor.execute(sql)
            assert cursor.fetchall() == [(expected,)]


@pytest.mark.usefixtures("fleet_database")
def test_a_forked_childs_pool_names_the_child(
    vendor: str, server: Server, make_wrapper: Any
) -> None:
    if vendor == "mysql":
        pytest.skip("PostgreSQL's application_name; MariaDB: see the program_name test")
    wrapper = make_wrapper(max_size=3, settings={"NAME": DATABASE})
    wrapper.ensure_connection()  # the parent's pool is open when the child is forked

    def in_child() -> str:
        with wrapper.cursor() as cursor:
            cursor.execute("SHOW application_name")
            [(name,)] = cursor.fetchall()
        return f"{os.getpid()} {name}"

    child_pid, name = in_forked_child(in_child).split(" ", 1)
    assert int(child_pid) != os.getpid()
    identity = PoolIdentity.parse(name)
    assert identity is not None and identity.pid == int(child_pid), name
