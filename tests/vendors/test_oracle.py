"""Oracle quirks against a live server: what the shared contract cannot say.

Runs when ``MULTIPOOL_ORACLE_DSN`` names a server, e.g. after
``docker run -d -p 1521:1521 -e ORACLE_PASSWORD=secret gvenzl/oracle-free:23-slim-faststart``::

    MULTIPOOL_ORACLE_DSN=oracle://system:secret@127.0.0.1:1521/FREEPDB1 pytest tests

or when a Docker engine lets testcontainers start that image; skipped with
that advice otherwise (failed instead if ``MULTIPOOL_REQUIRE`` names oracle).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ..probes import Probe, probe_class
from ..servers import Server, find_server, required_vendors, selected_vendors

pytestmark = pytest.mark.vendor

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def vendor() -> str:
    """Oracle only (overrides conftest's fixture parametrized over every vendor)."""
    if "oracle" not in selected_vendors():
        pytest.skip("MULTIPOOL_VENDORS leaves out oracle")
    server, why = find_server("oracle")
    if server is None:
        if "oracle" in required_vendors():
            pytest.fail(f"MULTIPOOL_REQUIRE names oracle, but {why}")
        pytest.skip(why)
    probe_class("oracle")(server).ensure_database()
    return "oracle"


def round_trips(wrapper: Any, calls: list[str]) -> int:
    """Round trips of one checkout and return of ``wrapper``'s connection."""
    calls.clear()
    wrapper.ensure_connection()
    wrapper.close()
    return len(calls)


def test_a_checkout_costs_no_round_trip(make_wrapper: Any) -> None:
    calls: list[str] = []
    # python-oracledb calls round_trip_callback before each thin-mode round trip.
    wrapper = make_wrapper(
        settings={"OPTIONS": {"round_trip_callback": calls.append}}, min_size=1, max_size=1
    )
    first = round_trips(wrapper, calls)
    assert first >= 2, "the new session runs Django's two ALTER SESSIONs once"
    assert round_trips(wrapper, calls) == 0
    assert round_trips(wrapper, calls) == 0


def test_djangos_own_pool_pays_two_round_trips_per_checkout(make_wrapper: Any) -> None:
    """The control for the test above."""
    calls: list[str] = []
    wrapper = make_wrapper(
        settings={
            "ENGINE": "django.db.backends.oracle",
            "OPTIONS": {"round_trip_callback": calls.append},
        },
        pool={"min": 1, "max": 1},
    )
    round_trips(wrapper, calls)
    try:
        assert round_trips(wrapper, calls) >= 2
    finally:
        wrapper.close_pool()


def test_djangos_session_settings_hold_on_every_checkout(make_wrapper: Any) -> None:
    wrapper = make_wrapper(min_size=1, max_size=1)
    for _ in range(3):
        with wrapper.cursor() as cursor:
            cursor.execute(
                "SELECT parameter, value FROM nls_session_parameters WHERE parameter IN"
                " ('NLS_TERRITORY', 'NLS_DATE_FORMAT', 'NLS_TIMESTAMP_FORMAT')"
            )
            nls = dict(cursor.fetchall())
            cursor.execute("SELECT SESSIONTIMEZONE FROM DUAL")
            zone = cursor.fetchone()[0]
        wrapper.close()
        assert nls == {
            "NLS_TERRITORY": "AMERICA",
            "NLS_DATE_FORMAT": "YYYY-MM-DD HH24:MI:SS",
            "NLS_TIMESTAMP_FORMAT": "YYYY-MM-DD HH24:MI:SS.FF",
        }
        assert zone in {"UTC", "+00:00"}  # USE_TZ=True in tests/conftest.py


def test_reset_session_gives_a_fresh_session(make_pool: Any, probe: Probe) -> None:
    # Thin mode cannot reset a session in place: the session is ended and a new
    # one opened. (The contract suite's reset test also asserts the session is
    # *reused*, which Oracle thin mode cannot do.)
    pool = make_pool(min_size=1, max_size=1, reset="session", timeout=10)
    conn = pool.acquire()
    cursor = conn.cursor()
    cursor.execute(probe.backend_id_sql)
    first = cursor.fetchone()[0]
    cursor.execute("ALTER SESSION SET NLS_SORT = 'GERMAN'")
    pool.release(conn)
    conn = pool.acquire()
    cursor = conn.cursor()
    cursor.execute(probe.backend_id_sql)
    assert cursor.fetchone()[0] != first
    cursor.execute("SELECT value FROM nls_session_parameters WHERE parameter = 'NLS_SORT'")
    assert cursor.fetchone()[0] != "GERMAN"
    pool.release(conn)


RUNNER = textwrap.dedent(
    """
    import json, os
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={"default": json.loads(os.environ["MULTIPOOL_ORACLE_DATABASE"])},
        INSTALLED_APPS=["django.contrib.contenttypes", "django_multipool"],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    def user():
        with connection.cursor() as cursor:
            cursor.execute("SELECT USER FROM dual")
            return cursor.fetchone()[0]

    report = {"before": user()}  # the pool opens on the main user first
    old = setup_databases(verbosity=0, interactive=False)
    report["during"] = user()
    report["migrated"] = ContentType.objects.count() > 0
    report["pool_is_ours"] = type(connection.pool).__name__
    connection.close()
    teardown_databases(old, verbosity=0)
    report["user_after"] = connection.settings_dict["USER"]
    print(json.dumps(report))
    """
)


@pytest.mark.slow
def test_djangos_test_database_is_a_user_served_by_its_own_pool(
    server: Server, probe: Probe
) -> None:
    test_user = "multipool_rt"
    database = server.settings(
        USER=server.user,  # creating users and tablespaces needs the admin
        OPTIONS={"pool": {"min_size": 1, "max_size": 4, "timeout": 10}},
        TEST={"USER": test_user, "PASSWORD": "Multipool_rt_1", "TBLSPACE": "multipool_rt"},
    )
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        cwd=REPO,
        env={**os.environ, "MULTIPOOL_ORACLE_DATABASE": json.dumps(database)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] == server.user.upper()
    assert report["during"] == test_user.upper()
    assert report["migrated"] and report["pool_is_ours"] == "OracledbPoolAdapter"
    # Dropped (no session of it survived), and the settings name the main user again.
    assert probe.execute(
        "SELECT COUNT(*) FROM dba_users WHERE username = :1", ("MULTIPOOL_RT",)
    ) == [(0,)]
    assert report["user_after"] == server.user
