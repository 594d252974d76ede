"""The third-party packages real Django sites run, on our ENGINEs, in both release modes.

Each scenario serves the site in tests/ecosystem/project through Django's
WSGI and ASGI handlers with one tool installed as its docs say (all of them
in ``all-tools``; none in ``no-tool``, the control): django-debug-toolbar's
SQL panel, sentry-sdk's Django integration, OpenTelemetry's Django and DB-API
instrumentation (psycopg, mysqlclient or mysql-connector), django-silk. The pool has
``max_size=1``, so a connection a tool keeps from going back shows: another
thread cannot run a statement in the middle of a view, or the next request
times out. Every request must answer 200 with the right rows and raise
nothing, leave the pool whole when it ends, and, with release="transaction",
give the connection back after each statement outside ``atomic()``; every
tool must have recorded the view's queries, the raw ``connection.cursor()``
one included.

A scenario runs in a process of its own (tests/ecosystem/scenario.py): the
tools patch globals that must not leak from one scenario into the next. The
processes of one vendor run a few at a time, started on the first test that
needs them (only the tests selected).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ..probes import probe_class
from ..servers import Server, find_server
from .project.seed import SEED

pytestmark = [pytest.mark.vendor, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent.parent
#: The site's own database: its tables, silk's and the toolbar's.
DATABASE = "multipool_ecosystem"
#: One connection: whatever is not given back blocks the next statement elsewhere.
#: Only a failing scenario waits the timeout out; 2 s covers a first connect
#: on a loaded machine.
POOL = {"min_size": 1, "max_size": 1, "timeout": 2}
RELEASES = ("request", "transaction")
TOOLS = ("debug_toolbar", "sentry", "opentelemetry", "silk")
SCENARIOS = {
    "no-tool": (),
    **{tool: (tool,) for tool in TOOLS},
    "all-tools": TOOLS,
}
#: The modules each tool needs (the "test" dependency group installs them).
MODULES = {
    "debug_toolbar": ("debug_toolbar",),
    "sentry": ("sentry_sdk",),
    "opentelemetry": (
        "opentelemetry.sdk",
        "opentelemetry.instrumentation.django",
        "opentelemetry.instrumentation.asgi",
        "opentelemetry.instrumentation.psycopg",
        "opentelemetry.instrumentation.mysql",
        "opentelemetry.instrumentation.mysqlclient",
    ),
    "silk": ("silk",),
}
#: The raw connection.cursor() query of both views: every tool must see it.
RAW_SQL = "SELECT SUM(quantity) FROM ecosystem_order"
#: Requests scenario.py makes, each tagged (the toolbar's panel fetch is not).
REQUESTS = ("catalogue", "catalogue-again", "asgi", "async")
PARALLEL = 4
#: Vendors the site runs on (Oracle: see _only_live_vendors).
LIVE_VENDORS = ("postgresql", "mysql")


def missing_modules(tools: tuple[str, ...]) -> list[str]:
    return [m for tool in tools for m in MODULES[tool] if not _importable(m)]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# -- running the scenarios -----------------------------------------------------------


def _spawn(server: Server, tools: tuple[str, ...], command: str, release: str) -> dict[str, Any]:
    entry = server.settings(name=DATABASE)
    entry["OPTIONS"]["pool"] = {**POOL, "release": release}
    config = {"vendor": server.vendor.name, "database": entry, "tools": list(tools)}
    with tempfile.TemporaryDirectory(prefix="multipool-ecosystem-") as tmp:
        out = Path(tmp) / "report.json"
        env = dict(
            os.environ,
            MULTIPOOL_ECOSYSTEM=json.dumps(config),
            MULTIPOOL_ECOSYSTEM_OUT=str(out),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        process = subprocess.run(
            [sys.executable, "-m", "tests.ecosystem.scenario", command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    report["returncode"] = process.returncode
    report["stderr"] = process.stderr[-6000:]
    return report


@pytest.fixture(scope="session")
def scenario_reports(request: pytest.FixtureRequest) -> Callable[[str, str, str], Any]:
    """``get(vendor, release, scenario)``: that scenario's report.

    The first call migrates each vendor's database, then runs every selected
    scenario of every vendor with a server, ``PARALLEL`` processes at a time.
    """
    reports: dict[tuple[str, str, str], dict[str, Any]] = {}

    def selected() -> set[tuple[str, str, str]]:
        chosen = set()
        for item in request.session.items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            if "scenario" in params and params.get("vendor") in LIVE_VENDORS:
                chosen.add((params["vendor"], params["release"], params["scenario"]))
        return chosen

    def get(vendor: str, release: str, scenario: str) -> dict[str, Any]:
        if (vendor, release, scenario) in reports:
            return reports[vendor, release, scenario]
        todo = sorted(selected() | {(vendor, release, scenario)} - set(reports))
        todo = [t for t in todo if not missing_modules(SCENARIOS[t[2]])]
        servers = {v: find_server(v)[0] for v in {t[0] for t in todo}}
        todo = [t for t in todo if servers[t[0]] is not None]

        def migrate(server: Server) -> dict[str, Any]:
            probe_class(server.vendor.name)(server).ensure_database(DATABASE)
            return _spawn(server, TOOLS, "migrate", "request")

        with ThreadPoolExecutor(PARALLEL) as executor:
            live = [s for s in servers.values() if s is not None]
            for server, migrated in zip(live, executor.map(migrate, live), strict=True):
                assert migrated.get("migrated"), (
                    f"migrate on {server.vendor.name} failed:\n{_crash(migrated)}"
                )
            done = executor.map(
                lambda t: _spawn(servers[t[0]], SCENARIOS[t[2]], "run", t[1]),  # type: ignore[arg-type]
                todo,
            )
            reports.update(zip(todo, done, strict=True))
        return reports[vendor, release, scenario]

    return get


def _crash(report: dict[str, Any]) -> str:
    return report.get("fatal") or f"exit {report['returncode']}:\n{report['stderr']}"


# -- what every request must show ----------------------------------------------------


def request_problems(entry: dict[str, Any], release: str, shown: set[str]) -> list[str]:
    """What is wrong with one request; empty when it is right.

    An exception's traceback is shown the first time (``shown`` keeps its
    last line), then only its last line.
    """
    name = entry["name"]
    if "client_error" in entry:
        return [f"{name}: the request failed in the client:\n{entry['client_error']}"]
    problems = []
    if entry["exceptions"]:
        trace = entry["exceptions"][0].rstrip()
        error = trace.splitlines()[-1]
        if error in shown:
            problems.append(f"{name}: the view raised {error}")
        else:
            shown.add(error)
            problems.append(f"{name}: the view raised:\n{trace[-2500:]}")
    if entry["status"] != 200:
        problems.append(f"{name}: status {entry['status']}")
    pool = entry["pool_after"]
    in_use = pool["stats"]["pool_size"] - pool["stats"]["pool_available"]
    if pool["checked_out"] or in_use:
        problems.append(
            f"{name}: after the request the pool has {pool['checked_out']} connection(s) "
            f"checked out, {in_use} in use (stats {pool['stats']})"
        )
    result = entry.get("result")
    if entry["status"] != 200 or result is None:
        return problems
    problems += [f"{name}: {p}" for p in result_problems(entry["path"], result)]
    problems += [f"{name}: {p}" for p in release_problems(entry["path"], result, release)]
    return problems


def result_problems(path: str, result: dict[str, Any]) -> list[str]:
    names = [n for n, _ in SEED]
    if path == "/catalogue/":
        expected = {
            "products": [list(p) for p in SEED],
            "cheap": sum(1 for _, cents in SEED if cents < 1000),
            "chunked": names[::-1],
            "orders": 2,
            "raw_total": 3 + 4,
        }
    else:
        expected = {"count": len(SEED), "names": names, "raw_total": 5}
    return [
        f"{key} is {result[key]!r}, expected {value!r}"
        for key, value in expected.items()
        if result[key] != value
    ]


def release_problems(path: str, result: dict[str, Any], release: str) -> list[str]:
    """Whether the connection went back between statements (transaction) or stayed (request)."""
    held = result["held"]
    problems = []
    if release == "transaction":
        if held["after_orm"] != {"checked_out": 0, "holds": False}:
            problems.append(
                f"right after an ORM query outside atomic() the connection was not given "
                f"back: {held['after_orm']}"
            )
        if held["at_end"]["checked_out"]:
            problems.append(f"after the raw cursor closed, still checked out: {held['at_end']}")
        if path == "/catalogue/":
            if result["other_thread"] is not True:
                problems.append(
                    f"another thread could not run a statement between two of the view's "
                    f"(max_size=1): {result['other_thread']}"
                )
            if held["in_atomic"]["checked_out"] != 1:
                problems.append(
                    f"inside atomic() the connection was not held: {held['in_atomic']}"
                )
    else:
        # The control: the same observations show the connection held all along.
        if held["after_orm"] != {"checked_out": 1, "holds": True}:
            problems.append(f"release='request' gave the connection back: {held['after_orm']}")
        if path == "/catalogue/" and result["other_thread"] is not False:
            problems.append(
                f"release='request': another thread ran a statement mid-view: "
                f"{result['other_thread']}"
            )
    return problems


# -- what each tool must have recorded -----------------------------------------------


def debug_toolbar_problems(evidence: dict[str, Any], vendor: str) -> list[str]:
    if evidence.get("request_id") is None:
        return ["the toolbar was not inserted in the page (no data-request-id)"]
    problems = []
    queries = evidence["queries"]
    if len(queries) < 8 or not any(RAW_SQL in q for q in queries):
        problems.append(
            f"the SQL panel recorded {len(queries)} queries, expected the view's 8 with "
            f"the raw one: {queries}"
        )
    if evidence["vendors"] != [vendor]:
        problems.append(f"the SQL panel's vendors: {evidence['vendors']}")
    if evidence["panel_status"] != 200 or not evidence["panel_html_mentions_sum"]:
        problems.append(
            f"the rendered SQL panel (status {evidence['panel_status']}) does not show the "
            f"raw query"
        )
    return problems


def _spans_problems(tool: str, evidence: dict[str, Any], vendor: str) -> list[str]:
    problems = []
    for name in REQUESTS:
        seen = evidence["by_request"].get(name)
        if seen is None:
            problems.append(f"{tool}: no trace of request {name}")
            continue
        spans = seen["db_spans"]
        if not any(RAW_SQL in s for s in spans) or len(spans) < 4:
            problems.append(f"{tool}: request {name} has {len(spans)} db spans: {spans}")
        if seen["db_systems"] != [vendor]:
            problems.append(f"{tool}: request {name}'s db spans say {seen['db_systems']}")
    return problems


def sentry_problems(evidence: dict[str, Any], vendor: str) -> list[str]:
    problems = [f"sentry: error event {e!r}" for e in evidence["errors"]]
    return problems + _spans_problems("sentry", evidence, vendor)


def opentelemetry_problems(evidence: dict[str, Any], vendor: str) -> list[str]:
    return _spans_problems("opentelemetry", evidence, vendor)


def silk_problems(evidence: dict[str, Any], vendor: str) -> list[str]:
    problems = []
    # Silk wraps SQLCompiler.execute_sql: it sees the ORM's reads, not the
    # INSERTs (SQLInsertCompiler has its own execute_sql) nor raw cursors.
    reads = {"catalogue": 5, "catalogue-again": 5, "asgi": 5, "async": 3}
    for name, count in reads.items():
        seen = evidence["by_request"].get(name)
        if seen is None or seen["num_sql_queries"] < count:
            problems.append(f"silk: request {name} recorded {seen}, expected {count} queries")
    return problems


EVIDENCE = {
    "debug_toolbar": debug_toolbar_problems,
    "sentry": sentry_problems,
    "opentelemetry": opentelemetry_problems,
    "silk": silk_problems,
}


#: Problems these tests found that neither the tool nor the release mode
#: causes, to be fixed elsewhere: (vendor, tool) -> (the text that marks the
#: problem, why it happens). A scenario whose only problems are known xfails;
#: one where a known problem no longer shows fails, so the entry goes with the fix.
KNOWN: dict[tuple[str, str], tuple[str, str]] = {}


# -- the tests -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _only_live_vendors(vendor: str) -> None:
    if vendor not in LIVE_VENDORS:
        pytest.skip(
            "the ecosystem site has run on PostgreSQL and MariaDB only: no Oracle server "
            "here, and no OpenTelemetry DB-API instrumentation is configured for oracledb"
        )


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_site_with_tool(
    vendor: str, release: str, scenario: str, scenario_reports: Callable[..., Any]
) -> None:
    tools = SCENARIOS[scenario]
    missing = missing_modules(tools)
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (the 'test' dependency group)")
    report = scenario_reports(vendor, release, scenario)
    if "requests" not in report:
        pytest.fail(f"the scenario crashed:\n{_crash(report)}")
    problems: list[str] = []
    shown: set[str] = set()
    for entry in report["requests"]:
        problems += request_problems(entry, release, shown)
    for tool in tools:
        evidence = report["evidence"].get(tool)
        if evidence is None:
            problems.append(f"{tool}: recorded nothing")
        else:
            problems += EVIDENCE[tool](evidence, vendor)
    at_exit = report["pool_at_exit"]
    if at_exit["checked_out"]:
        problems.append(f"at the end, {at_exit['checked_out']} connection(s) checked out")
    known = [KNOWN[vendor, tool] for tool in tools if (vendor, tool) in KNOWN]
    unexplained = [p for p in problems if not any(mark in p for mark, _ in known)]
    title = f"{scenario} on {vendor}, release={release}"
    assert not unexplained, f"{title}:\n" + "\n".join(problems)
    stale = [why for mark, why in known if not any(mark in p for p in problems)]
    assert not stale, f"{title}: a known problem no longer shows; remove it from KNOWN: {stale}"
    if known:
        pytest.xfail("; ".join(why for _, why in known))
