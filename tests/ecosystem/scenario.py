"""One tool scenario of the ecosystem tests, in a process of its own.

    MULTIPOOL_ECOSYSTEM='{"database": {...}, "tools": ["sentry"]}' \\
    MULTIPOOL_ECOSYSTEM_OUT=/tmp/out.json python -m tests.ecosystem.scenario run

``migrate`` creates the site's tables (the shop's, silk's and the toolbar's)
and seeds the products; ``run`` installs the tools the way their docs say,
serves a few requests through Django's real handlers (WSGI and ASGI, by
httpx's in-process transports, so ``request_started``/``request_finished``
close connections as under a server, which Django's test Client does not),
and writes what it saw as JSON: each response's results, the pool after
each request, what each tool recorded. It asserts nothing: the pytest side
does (tests/ecosystem/test_ecosystem.py). A process per scenario because
the tools patch globals (``sentry_sdk.init``, OpenTelemetry's
``instrument()``, the toolbar's and silk's monkey-patches) that no later
scenario should inherit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import json
import os
import re
import sys
import traceback
import uuid
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.ecosystem.project.settings"
CONFIG = json.loads(os.environ["MULTIPOOL_ECOSYSTEM"])
TOOLS: list[str] = CONFIG["tools"]
VENDOR: str = CONFIG["vendor"]

#: Distributions whose versions the report names.
PACKAGES = (
    "django",
    "psycopg",
    "psycopg-pool",
    "mysql-connector-python",
    "mysqlclient",
    "django-debug-toolbar",
    "sentry-sdk",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation-django",
    "opentelemetry-instrumentation-psycopg",
    "opentelemetry-instrumentation-mysql",
    "opentelemetry-instrumentation-mysqlclient",
    "django-silk",
)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def instrument_opentelemetry() -> Any:
    """The SDK with an in-memory exporter, then the instrumentors, before Django
    starts (DjangoInstrumentor adds its middleware to settings.MIDDLEWARE)."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # A version conflict would make instrument() log and do nothing: fail instead.
    DjangoInstrumentor().instrument(raise_exception_on_conflict=True)
    if VENDOR == "postgresql":
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        PsycopgInstrumentor().instrument(raise_exception_on_conflict=True)
    elif VENDOR == "mysql" and CONFIG["database"]["ENGINE"].endswith("mysql_connector"):
        from opentelemetry.instrumentation.mysql import MySQLInstrumentor

        MySQLInstrumentor().instrument(raise_exception_on_conflict=True)
    elif VENDOR == "mysql":
        from opentelemetry.instrumentation.mysqlclient import MySQLClientInstrumentor

        MySQLClientInstrumentor().instrument(raise_exception_on_conflict=True)
    return exporter


def pool_state() -> dict[str, Any]:
    from django.db import connections

    from django_multipool import pool_stats

    stats = pool_stats().get("default")
    return {
        "checked_out": connections["default"].pool.checked_out,
        "stats": None if stats is None else dataclasses.asdict(stats),
    }


class Requests:
    """Requests through Django's WSGI and ASGI handlers, with what each left behind."""

    def __init__(self) -> None:
        import httpx
        from django.core.asgi import get_asgi_application
        from django.core.signals import got_request_exception
        from django.core.wsgi import get_wsgi_application

        self.done: list[dict[str, Any]] = []
        self._exceptions: list[str] = []
        got_request_exception.connect(self._exception, weak=False)
        self.wsgi = httpx.Client(
            transport=httpx.WSGITransport(app=get_wsgi_application()),
            base_url="http://testserver",
        )
        self._asgi_app = get_asgi_application()

    def _exception(self, sender: Any, request: Any = None, **kwargs: Any) -> None:
        self._exceptions.append(traceback.format_exc())

    def _record(self, name: str, path: str, tag: str | None, send: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name, "path": path, "tag": tag}
        self._exceptions.clear()
        try:
            response = send()
            entry["status"] = response.status_code
            entry["body"] = response.text
            found = re.search(
                r'<script id="result" type="application/json">(.*?)</script>',
                response.text,
                re.S,
            )
            entry["result"] = json.loads(found.group(1)) if found else None
        except Exception:
            entry["client_error"] = traceback.format_exc()
        entry["exceptions"] = list(self._exceptions)
        entry["pool_after"] = pool_state()
        self.done.append(entry)
        return entry

    def get(self, name: str, path: str, **params: str) -> dict[str, Any]:
        return self._record(
            name, path, params.get("tag"), lambda: self.wsgi.get(path, params=params)
        )

    def aget(self, name: str, path: str, **params: str) -> dict[str, Any]:
        import httpx

        async def send() -> Any:
            transport = httpx.ASGITransport(app=self._asgi_app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                return await client.get(path, params=params)

        return self._record(name, path, params.get("tag"), lambda: asyncio.run(send()))


def toolbar_evidence(requests: Requests, entry: dict[str, Any]) -> dict[str, Any]:
    """The SQL panel's stored queries and its rendered HTML, as the toolbar's UI fetches it."""
    from debug_toolbar.store import get_store

    found = re.search(r'data-request-id="(\w+)"', entry.get("body") or "")
    request_id = found.group(1) if found else None
    if request_id is None:
        return {"request_id": None}
    stats = get_store().panel(request_id, "SQLPanel") or {}
    queries = stats.get("queries", [])
    panel = requests.get(
        "toolbar-panel",
        "/__debug__/render_panel/",
        request_id=request_id,
        panel_id="SQLPanel",
    )
    content = ""
    if panel.get("status") == 200:
        content = json.loads(panel.pop("body", None) or "{}").get("content", "")
    return {
        "request_id": request_id,
        "queries": [q.get("raw_sql") for q in queries],
        "vendors": sorted({q.get("vendor") for q in queries}),
        "panel_status": panel.get("status"),
        "panel_html_mentions_sum": "SUM(quantity)" in content,
    }


def sentry_evidence(tags: dict[str, str]) -> dict[str, Any]:
    import sentry_sdk

    from .project.instruments import SENTRY_EVENTS

    sentry_sdk.flush()
    by_request: dict[str, Any] = {}
    for name, tag in tags.items():
        for event in SENTRY_EVENTS:
            if event.get("type") != "transaction":
                continue
            if tag not in (event.get("request", {}).get("query_string") or ""):
                continue
            spans = event.get("spans", [])
            by_request[name] = {
                "transaction": event.get("transaction"),
                "db_spans": [s.get("description") for s in spans if s.get("op") == "db"],
                "db_systems": sorted(
                    {str(s.get("data", {}).get("db.system")) for s in spans if s.get("op") == "db"}
                ),
            }
    errors = [e for e in SENTRY_EVENTS if e.get("type") != "transaction"]
    return {
        "transactions": sum(1 for e in SENTRY_EVENTS if e.get("type") == "transaction"),
        "errors": [
            (e.get("exception", {}).get("values") or [{}])[-1].get("value", "")
            or e.get("message", "")
            for e in errors
        ],
        "by_request": by_request,
    }


def opentelemetry_evidence(exporter: Any, tags: dict[str, str]) -> dict[str, Any]:
    """Per request: its server span and the db spans of the same trace.

    Old or new semantic conventions (``db.system`` / ``db.system.name``,
    ``db.statement`` / ``db.query.text``), whichever the version emits.
    """
    from opentelemetry.trace import SpanKind

    def attribute(span: Any, *names: str) -> str | None:
        attributes = span.attributes or {}
        return next((str(attributes[n]) for n in names if n in attributes), None)

    spans = exporter.get_finished_spans()
    by_request: dict[str, Any] = {}
    for name, tag in tags.items():
        servers = [
            s
            for s in spans
            if s.kind is SpanKind.SERVER and tag in (attribute(s, "http.url", "url.query") or "")
        ]
        if not servers:
            continue
        traces = {s.context.trace_id for s in servers}
        db = [
            s
            for s in spans
            if s.kind is SpanKind.CLIENT
            and s.context.trace_id in traces
            and attribute(s, "db.system", "db.system.name")
        ]
        by_request[name] = {
            "server_span": servers[0].name,
            "db_spans": [attribute(s, "db.statement", "db.query.text") or s.name for s in db],
            "db_systems": sorted({attribute(s, "db.system", "db.system.name") for s in db}),
        }
    return {"spans": len(spans), "by_request": by_request}


def silk_evidence(tags: dict[str, str]) -> dict[str, Any]:
    from silk.models import Request

    by_request: dict[str, Any] = {}
    for name, tag in tags.items():
        for request in Request.objects.filter(query_params__contains=tag):
            by_request[name] = {
                "path": request.path,
                "num_sql_queries": request.num_sql_queries,
                "queries": list(request.queries.values_list("query", flat=True)),
            }
    return {"by_request": by_request}


def migrate() -> dict[str, Any]:
    from django.core.management import call_command

    from .project.models import Order, Product
    from .project.seed import SEED

    call_command("migrate", interactive=False, verbosity=0)
    Order.objects.all().delete()
    Product.objects.all().delete()
    Product.objects.bulk_create(Product(name=n, price_cents=p) for n, p in SEED)
    if "silk" in TOOLS:
        from silk.models import Request

        Request.objects.all().delete()  # silk's rows of earlier runs
    return {"migrated": True}


def run(exporter: Any) -> dict[str, Any]:
    from django.db import connections

    requests = Requests()
    tags = {name: uuid.uuid4().hex for name in ("catalogue", "catalogue-again", "asgi", "async")}
    first = requests.get("catalogue", "/catalogue/", tag=tags["catalogue"])
    evidence: dict[str, Any] = {}
    if "debug_toolbar" in TOOLS:
        evidence["debug_toolbar"] = toolbar_evidence(requests, first)
    # Again: a connection the first request kept would time this one out (max_size=1).
    requests.get("catalogue-again", "/catalogue/", tag=tags["catalogue-again"])
    requests.aget("asgi", "/catalogue/", tag=tags["asgi"])
    requests.aget("async", "/async-catalogue/", tag=tags["async"])
    if "sentry" in TOOLS:
        evidence["sentry"] = sentry_evidence(tags)
    if "opentelemetry" in TOOLS:
        evidence["opentelemetry"] = opentelemetry_evidence(exporter, tags)
    if "silk" in TOOLS:
        evidence["silk"] = silk_evidence(tags)
        connections.close_all()
    for entry in requests.done:
        # A page is kept only to explain a failure.
        body = entry.pop("body", None)
        if body is not None and (entry.get("status") != 200 or entry["exceptions"]):
            entry["body"] = body[-4000:]
    return {"requests": requests.done, "evidence": evidence, "pool_at_exit": pool_state()}


def main() -> int:
    out = os.environ["MULTIPOOL_ECOSYSTEM_OUT"]
    report: dict[str, Any] = {"tools": TOOLS, "versions": versions()}
    try:
        import django

        if sys.argv[1:] == ["migrate"]:
            django.setup()  # the tools' apps, not their instrumentation
            report.update(migrate())
        else:
            exporter = instrument_opentelemetry() if "opentelemetry" in TOOLS else None
            django.setup()
            report.update(run(exporter))
    except Exception:
        report["fatal"] = traceback.format_exc()
    with open(out, "w") as f:
        json.dump(report, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
