"""``manage.py pool_status``: the pools of this process, per alias.

A pool belongs to the process that opened it, and this command runs in a
process of its own: it cannot see a server's pools. So by default it opens
each configured pool and takes one connection from it and gives it back,
which shows that the settings work and what the pool looks like then; with
``--no-connect`` it opens nothing and shows only pools already open in the
process (when called with ``call_command()`` from a running program). For a
running server's pools use the Prometheus collector or a status view
(docs/monitoring.md).

``--server`` asks the database server instead: its connection limit, every
client session grouped by pool and process (ours name themselves, see
django_multipool.identity) or by application, user and client host, and
the sum of the ``max_size`` of every pool seen against the limit
(django_multipool.fleet).
"""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from ..._redact import redact, secrets_of
from ...backends.registry import registry
from ...fleet import SERVER_VENDORS, ServerView, read_server
from ...status import PoolStatus, is_pooled, not_pooled, pool_statuses, process_status

# (heading, how to read it from a PoolStatus), in table order.
_COLUMNS: list[tuple[str, Any]] = [
    ("alias", lambda s: s.alias),
    ("vendor", lambda s: s.vendor),
    ("state", lambda s: s.state),
    ("size", lambda s: s.stats.pool_size),
    ("min", lambda s: s.stats.pool_min),
    ("max", lambda s: s.stats.pool_max),
    ("idle", lambda s: s.stats.pool_available),
    ("in use", lambda s: s.in_use),
    ("waiting", lambda s: s.stats.requests_waiting),
    ("requests", lambda s: s.stats.requests_num),
    ("waited", lambda s: s.stats.requests_queued),
    ("failed", lambda s: s.stats.requests_errors),
    ("opened", lambda s: s.stats.connections_num),
    ("open errors", lambda s: s.stats.connections_errors),
    ("lost", lambda s: s.stats.connections_lost),
    ("leaks", lambda s: s.stats.leaks_detected),
    ("reclaimed", lambda s: s.stats.leaks_reclaimed),
]

_LEGEND = (
    "size: connections open or being opened; in use: lent out now; waited: requests that had to "
    "wait; failed: requests that timed out or were refused (max_waiting); opened: "
    "connections opened; open errors: failed connection attempts; lost: connections found "
    "broken; "
    "leaks: loans held past leak_timeout; reclaimed: loans taken back from ended threads. "
    "Counters count since the pool was opened."
)


class Command(BaseCommand):
    help = (
        "Show the connection pools of this process per database alias: sizes, waiting "
        "requests and counters. A server's pools live in its own processes; see "
        "docs/monitoring.md."
    )
    # Looks at settings and pools, not at models.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            metavar="ALIAS",
            help="Only this alias (repeat for more). Default: every alias.",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument(
            "--no-connect",
            action="store_true",
            help=(
                "Open nothing: show only the pools already open in this process "
                "(useful with call_command() inside a running program)."
            ),
        )

        parser.add_argument(
            "--server",
            action="store_true",
            help=(
                "Ask each alias's database server instead: its connection limit, its "
                "sessions grouped by pool and process, and the sum of every pool's max_size "
                "against the limit. Exits with status 2 when that sum can exhaust the server."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        aliases: list[str] | None = options["databases"]
        unknown = sorted(set(aliases or ()) - set(connections.settings))
        if unknown:
            raise CommandError(
                f"no database alias {', '.join(map(repr, unknown))} in DATABASES; "
                f"known: {', '.join(map(repr, connections.settings))}."
            )
        if options["server"]:
            self._handle_server(aliases, options["json"], options["verbosity"])
            return
        connect = not options["no_connect"]
        errors = self._open_pools(aliases) if connect else {}
        statuses = pool_statuses(aliases)
        for status in statuses:
            if status.alias in errors:
                status.state, status.error = "error", errors[status.alias]
        if options["json"]:
            report = {
                "scope": "process",
                "connected": connect,
                **process_status(aliases, statuses=statuses),
            }
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._print_table(statuses, aliases, connect, options["verbosity"])
        if errors:
            raise CommandError(
                f"{len(errors)} pool(s) could not give a connection: "
                f"{', '.join(map(repr, errors))}."
            )

    def _handle_server(self, aliases: list[str] | None, as_json: bool, verbosity: int) -> None:
        views: dict[str, ServerView] = {}
        errors: dict[str, str] = {}
        seen: dict[tuple[Any, ...], str] = {}
        for alias, entry in connections.settings.items():
            if aliases is not None and alias not in aliases:
                continue
            connection = connections[alias]
            if connection.vendor not in SERVER_VENDORS:
                if aliases is not None:
                    errors[alias] = f"no server view for vendor {connection.vendor!r}"
                continue
            # Two aliases on one server (a replica alias, a second NAME) see
            # the same sessions: asked once, shown under the first alias.
            where = (entry.get("ENGINE"), entry.get("HOST"), entry.get("PORT"))
            if where in seen:
                continue
            seen[where] = alias
            try:
                views[alias] = read_server(connection, behind=_behind(entry))
            except Exception as exc:
                errors[alias] = redact(f"{type(exc).__name__}: {exc}", secrets_of(entry))
            finally:
                connection.close()
        if as_json:
            report = {
                "scope": "server",
                "servers": {alias: view.as_dict() for alias, view in views.items()},
                "errors": errors,
            }
            self.stdout.write(json.dumps(report, indent=2))
        else:
            for alias, view in views.items():
                self._print_server(alias, view, verbosity)
            for alias, error in errors.items():
                self.stdout.write(self.style.ERROR(f"{alias}: {error}"))
        if errors:
            raise CommandError(
                f"{len(errors)} server(s) could not be asked: {', '.join(map(repr, errors))}."
            )
        if any(view.exhausts for view in views.values()):
            # A script (a deploy step, a cron job) can act on this without parsing.
            raise SystemExit(2)

    def _print_server(self, alias: str, view: ServerView, verbosity: int) -> None:
        limits = view.limits
        reserved = ", ".join(f"{k} {v}" for k, v in limits.reserved.items()) or "none"
        extra = ", ".join(f"{k} {v}" for k, v in limits.extra.items())
        self.stdout.write(
            f"Server of {alias!r} ({view.vendor}): max_connections {limits.max_connections}, "
            f"reserved: {reserved}; {limits.for_clients} for ordinary users"
            + (f" (beyond the limit, for administrators: {extra})" if extra else "")
            + "."
        )
        rows = [
            [
                "pool/application",
                "host/client",
                "pid",
                "user",
                "max",
                "sessions",
                "active",
                "idle",
                "idle in tx",
            ]
        ]
        for g in view.groups:
            name = g.name if g.kind == "multipool" else f"({g.name or 'unnamed'})"
            rows.append(
                [
                    name,
                    g.host,
                    "" if g.pid is None else str(g.pid),
                    g.user,
                    "" if g.max_size is None else str(g.max_size),
                    str(g.sessions),
                    str(g.active),
                    str(g.idle),
                    str(g.idle_in_transaction),
                ]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [
                c.ljust(widths[i]) if i < 4 else c.rjust(widths[i]) for i, c in enumerate(row)
            ]
            self.stdout.write("  ".join(cells).rstrip())
        self.stdout.write(
            f"Pools seen: {len(view.pools)} with {view.fleet_sessions} sessions open and "
            f"{view.fleet_max} at max_size; other sessions: {view.other_sessions}; "
            f"together at max_size: {view.fleet_max + view.other_sessions} of "
            f"{limits.for_clients}."
        )
        for warning in view.warnings:
            self.stdout.write(self.style.WARNING(f"WARNING: {warning}"))
        if verbosity >= 1:
            for note in view.notes:
                self.stdout.write(f"Note: {note}")
            self.stdout.write(
                "Pools are named by the sessions themselves (docs/monitoring.md); this "
                "command's own process is left out. A pool with no session open now is "
                "not seen."
            )

    def _open_pools(self, aliases: list[str] | None) -> dict[str, str]:
        """Take one connection from each configured pool not open yet; errors by alias."""
        errors = {}
        for alias, entry in connections.settings.items():
            if aliases is not None and alias not in aliases:
                continue
            if not is_pooled(entry) or registry.current(alias) is not None:
                continue
            connection = connections[alias]
            try:
                # Django's own path, as a request takes it: settings are
                # validated, the pool built and opened, a connection set up.
                connection.ensure_connection()
            except Exception as exc:
                errors[alias] = redact(f"{type(exc).__name__}: {exc}", secrets_of(entry))
            finally:
                connection.close()
        return errors

    def _print_table(
        self,
        statuses: list[PoolStatus],
        aliases: list[str] | None,
        connected: bool,
        verbosity: int,
    ) -> None:
        if verbosity >= 1:
            how = (
                "this command opened each one and took and returned one connection"
                if connected
                else "only those already open (--no-connect)"
            )
            self.stdout.write(
                f"Pools of this process (pid {os.getpid()}): {how}.\n"
                f"A running server's pools live in its worker processes, which this command "
                f"cannot see: see docs/monitoring.md (Prometheus collector, status view)."
            )
        if statuses:
            rows = [[heading for heading, _ in _COLUMNS]]
            for status in statuses:
                if status.stats is None:
                    rows.append([str(get(status)) for _, get in _COLUMNS[:3]])
                else:
                    rows.append([str(get(status)) for _, get in _COLUMNS])
            widths = [
                max(len(row[i]) for row in rows if i < len(row)) for i in range(len(_COLUMNS))
            ]
            for row in rows:
                cells = [
                    cell.ljust(widths[i]) if i < 3 else cell.rjust(widths[i])
                    for i, cell in enumerate(row)
                ]
                self.stdout.write("  ".join(cells).rstrip())
        else:
            self.stdout.write("No django-multipool pool is configured.")
        for status in statuses:
            if status.error:
                self.stdout.write(self.style.ERROR(f"{status.alias}: {status.error}"))
        others = not_pooled(aliases)
        if others and verbosity >= 1:
            listed = ", ".join(f"{o['alias']} ({o['engine']})" for o in others)
            self.stdout.write(f"Not pooled by django-multipool: {listed}.")
        if statuses and verbosity >= 1:
            self.stdout.write(_LEGEND)


def _behind(entry: Any) -> str | None:
    options = entry.get("OPTIONS") or {}
    pool = options.get("pool") if isinstance(options, dict) else None
    behind = pool.get("behind") if isinstance(pool, dict) else None
    return behind if isinstance(behind, str) else None
