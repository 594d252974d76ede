"""Start the toolbar site (serve.py) in a process of its own, on the live servers.

``default`` is PostgreSQL with ``release="transaction"``, ``replica`` MariaDB
(or MySQL) with ``release="request"``: the panel shows both modes side by
side. A vendor without a server is left out, or fails the test when
``MULTIPOOL_REQUIRE`` names it, as everywhere in the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..probes import probe_class
from ..servers import find_server, required_vendors, selected_vendors

ROOT = Path(__file__).resolve().parents[2]
#: (alias, vendor, OPTIONS["pool"]) of the site.
ALIASES = (
    ("default", "postgresql", {"release": "transaction", "max_size": 4, "name": "shop"}),
    ("replica", "mysql", {"release": "request", "max_size": 3}),
)


def site_databases() -> dict[str, Any]:
    databases = {}
    for alias, vendor, pool in ALIASES:
        if vendor not in selected_vendors():  # MULTIPOOL_VENDORS leaves it out
            continue
        server, why = find_server(vendor)
        if server is None:
            if vendor in required_vendors():
                pytest.fail(f"MULTIPOOL_REQUIRE names {vendor}, but {why}")
            continue
        probe_class(vendor)(server).ensure_database()
        entry = server.settings()
        entry["OPTIONS"]["pool"] = dict(pool)
        databases[alias] = entry
    if not databases:
        pytest.skip("no PostgreSQL or MySQL/MariaDB server for the toolbar site")
    return databases


@contextlib.contextmanager
def running_site(databases: dict[str, Any], *, asgi: bool = False) -> Iterator[str]:
    """The site's base URL while it runs (under uvicorn with ``asgi``); its stderr
    goes to the test's output."""
    env = {
        **os.environ,
        "MULTIPOOL_TOOLBAR_DATABASES": json.dumps(databases),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.toolbar_site.serve", *(["--asgi"] if asgi else [])],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            process.wait(10)
            pytest.fail(f"the toolbar site did not start (exit {process.returncode}): {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[-1])}"
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode())


def expected_cells(release: str) -> dict[str, str]:
    """What the panel must show for an alias after one request of the site's page."""
    from .views import ATOMIC_STATEMENTS, AUTOCOMMIT_STATEMENTS

    assert ATOMIC_STATEMENTS > 1  # several statements, one loan
    if release == "transaction":
        # One loan per autocommit statement and one for the atomic block.
        released = f"yes, {AUTOCOMMIT_STATEMENTS + 1} times"
    else:
        released = 'no: release="request" holds it until the request ends'
    return {"failed": "0", "released": released, "waiting": "0"}
