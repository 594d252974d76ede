"""Django's own test runner on our backends: ``manage.py test``, serial and ``--parallel 2``.

The project in tests/runner_project/ opens every pool on the real database
before the test databases exist, then asserts inside its tests that each
query reaches the test database (the worker's clone under ``--parallel``),
that connections come from the pool, and that ``serialized_rollback``
restores migration data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .probes import Probe
from .servers import Server

pytestmark = [pytest.mark.vendor, pytest.mark.slow]

PROJECT = Path(__file__).parent / "runner_project"
REPO = Path(__file__).parent.parent
POOL = {"min_size": 1, "max_size": 4, "timeout": 10}


def manage_test(databases: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT), str(REPO)]),
        "MULTIPOOL_RUNNER_DATABASES": json.dumps(databases),
    }
    return subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", "-v", "2", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def databases_on(
    server: Server, default: str, other: str, release: str | None = None, **overrides: Any
) -> dict[str, Any]:
    pool = dict(POOL) if release is None else dict(POOL, release=release)
    return {
        alias: server.settings(name=name, OPTIONS={"pool": dict(pool)}, **overrides)
        for alias, name in (("default", default), ("other", other))
    }


@pytest.mark.parametrize("release", ["request", "transaction"])
@pytest.mark.parametrize("parallel", ["1", "2"])
def test_manage_py_test_runs_every_test_on_its_test_database(
    vendor: str, server: Server, probe: Probe, parallel: str, release: str
) -> None:
    if vendor == "oracle":
        pytest.skip(
            "Oracle's test database is a user that --parallel cannot clone; "
            "tests/vendors/test_oracle.py runs Django's test-user life cycle through the pool"
        )
    for name in ("multipool_runner", "multipool_runner_other"):
        probe.ensure_database(name)
    result = manage_test(
        databases_on(server, "multipool_runner", "multipool_runner_other", release),
        "--parallel",
        parallel,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Ran 10 tests" in output
    assert "OK" in output.splitlines()[-1] or "\nOK" in output
    if parallel == "2":
        assert "Cloning test database" in output
    # Nothing lingers on the test databases once the run is over.
    assert probe.count_connections("test_multipool_runner") == 0


def test_djangos_own_pool_fails_the_same_project(
    vendor: str, server: Server, probe: Probe
) -> None:
    """The control: the project does detect a pool serving the wrong database."""
    if vendor != "postgresql":
        pytest.skip("Django has a built-in pool for PostgreSQL and Oracle only")
    names = ("multipool_control", "multipool_control_other")
    for name in names:
        probe.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        probe.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
        probe.ensure_database(name)
    try:
        result = manage_test(
            databases_on(server, *names, ENGINE="django.db.backends.postgresql"),
            "--parallel",
            "1",
            "shop.tests.RunsOnTheTestDatabase",
        )
    finally:
        for name in names:
            probe.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            probe.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
    output = result.stdout + result.stderr
    assert result.returncode != 0, "Django's own pool now serves the test database: update docs"
    assert "test_every_alias_talks_to_its_test_database" in output
