"""``manage.py pool_status`` on real servers: what it opens, what it shows, what it hides.

The command runs in a process of its own (as users run it), on a settings
module written for the test; one test calls it in-process to show that
``--no-connect`` reports the pools a running program already has.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from django_multipool import PoolStats

from .probes import Probe
from .servers import Server

REPO = Path(__file__).resolve().parent.parent
DATABASE = "multipool_status"
PASSWORD = "multipool-status-SECRET-0815"
STATS_KEYS = {f.name for f in dataclasses.fields(PoolStats)}


def databases(server: Server) -> dict[str, Any]:
    ok = server.settings(name=DATABASE, OPTIONS={"pool": {"max_size": 3, "timeout": 10}})
    bad = server.settings(
        name=DATABASE,
        USER="multipool_no_such_user",
        PASSWORD=PASSWORD,
        OPTIONS={"pool": {"timeout": 1}},
    )
    lite = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    return {"default": ok, "bad": bad, "lite": lite}


def pool_status(tmp_path: Path, server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "status_settings.py").write_text(
        "import json, os\n"
        "SECRET_KEY = 'x'\n"
        "USE_TZ = True\n"
        "INSTALLED_APPS = ['django_multipool']\n"
        "DATABASES = json.loads(os.environ['STATUS_DATABASES'])\n"
        "LOGGING = {'version': 1, 'handlers': {'err': {'class': 'logging.StreamHandler'}},\n"
        "           'loggers': {'django_multipool': {'handlers': ['err'], 'level': 'DEBUG'}}}\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "django", "pool_status", *args],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": "status_settings",
            "STATUS_DATABASES": json.dumps(databases(server)),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def status_database(probe: Probe) -> None:
    probe.ensure_database(DATABASE)


@pytest.mark.vendor
@pytest.mark.usefixtures("status_database")
def test_table_opens_each_pool_and_names_the_one_that_fails(
    vendor: str, server: Server, tmp_path: Path
) -> None:
    result = pool_status(tmp_path, server)
    out, err = result.stdout, result.stderr
    assert result.returncode == 1, out + err
    assert "CommandError: 1 pool(s) could not give a connection: 'bad'." in err
    assert "Pools of this process (pid " in out and "cannot see" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["alias"][:3] == ["alias", "vendor", "state"]
    assert rows["default"][1:3] == [vendor, "open"]
    assert rows["bad"][1:3] == [vendor, "error"]
    # The bad alias's server refuses: said at once (ConnectRefused, a PoolTimeout).
    assert "bad: ConnectRefused: couldn't get a connection from pool 'bad'" in out
    assert "Not pooled by django-multipool: lite (django.db.backends.sqlite3)." in out
    # Log records of the run (DEBUG and up) went to stderr: the pools opened, no secret.
    assert "opened <" in err and "for database 'default'" in err
    assert PASSWORD not in out + err


@pytest.mark.vendor
@pytest.mark.usefixtures("status_database")
def test_json_has_the_stats_of_the_pool_after_one_checkout(
    vendor: str, server: Server, tmp_path: Path
) -> None:
    result = pool_status(tmp_path, server, "--json", "--database", "default")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["scope"] == "process" and report["connected"] is True
    assert isinstance(report["pid"], int) and report["pid"] != os.getpid()
    assert report["not_pooled"] == []
    [pool] = report["pools"]
    assert (pool["alias"], pool["vendor"], pool["name"], pool["state"]) == (
        "default",
        vendor,
        "default",
        "open",
    )
    assert pool["error"] is None and pool["in_use"] == 0
    stats = pool["stats"]
    assert set(stats) == STATS_KEYS
    assert (stats["pool_min"], stats["pool_max"]) == (1, 3)
    assert stats["requests_num"] == 1 and stats["requests_errors"] == 0
    assert stats["connections_num"] >= 1 and stats["connections_errors"] == 0
    assert 1 <= stats["pool_size"] <= 3


@pytest.mark.vendor
def test_no_connect_opens_nothing(vendor: str, server: Server, tmp_path: Path) -> None:
    result = pool_status(tmp_path, server, "--json", "--no-connect")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["connected"] is False
    assert [(p["alias"], p["state"], p["stats"]) for p in report["pools"]] == [
        ("default", "not open", None),
        ("bad", "not open", None),
    ]
    assert report["not_pooled"] == [{"alias": "lite", "engine": "django.db.backends.sqlite3"}]
    assert "opened <" not in result.stderr


@pytest.mark.vendor
def test_no_connect_in_process_shows_the_pools_a_program_has(
    vendor: str, make_wrapper: Callable[..., Any]
) -> None:
    wrapper = make_wrapper(max_size=2, alias="status_live")
    for _ in range(3):
        wrapper.ensure_connection()
        wrapper.close()
    wrapper.ensure_connection()  # held while the command looks

    def pools() -> dict[str, Any]:
        out = io.StringIO()
        call_command("pool_status", "--json", "--no-connect", stdout=out)
        return {p["alias"]: p for p in json.loads(out.getvalue())["pools"]}

    held = pools()["status_live"]
    assert (held["vendor"], held["state"], held["in_use"]) == (vendor, "open", 1)
    assert held["stats"]["requests_num"] == 4
    wrapper.close()
    assert pools()["status_live"]["in_use"] == 0


def test_unknown_alias_is_an_error() -> None:
    with pytest.raises(CommandError, match="no database alias 'nope' in DATABASES"):
        call_command("pool_status", "--database", "nope")
