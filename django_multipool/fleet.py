"""The fleet as the database server sees it: ``manage.py pool_status --server``.

Each process has its own pools, so no process can add up a site's load on
the database; the server can. Every pooled session names its pool, its
``max_size``, its process and its host (:mod:`django_multipool.identity`),
so one query of the server's session list tells how many pools there are,
how many sessions each holds now, and how many it may open: the sum of their
``max_size``, which is what the server must be able to accept.

Reading is vendor SQL (:func:`read_server`); everything after it is plain
data (:func:`summarize`), tested without a server. Nothing here holds a
secret: user names and client hosts are what the server shows to anyone
who may read its session list; no password or connect string is read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from .identity import PoolIdentity

__all__ = [
    "SERVER_VENDORS",
    "Limits",
    "ServerView",
    "SessionGroup",
    "SessionRow",
    "read_server",
    "summarize",
]

# The states a session is counted in. "idle in transaction": between
# statements with a transaction open, which holds a server slot *and* locks.
STATES = ("active", "idle", "idle in transaction")


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRow:
    """One client session, as the server lists it."""

    #: What the session announced (application_name, program_name, program).
    identity: str | None
    user: str
    #: The client's address or host name, without the port.
    client: str
    #: One of :data:`STATES`.
    state: str
    database: str = ""


@dataclasses.dataclass(slots=True)
class Limits:
    """How many client sessions the server accepts."""

    #: max_connections (Oracle: the ``sessions`` parameter).
    max_connections: int
    #: Slots held back from ordinary users, by setting name.
    reserved: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Slots beyond max_connections, by setting name (MariaDB's extra port, its
    #: one extra connection for CONNECTION ADMIN): for administrators, not the fleet.
    extra: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def for_clients(self) -> int:
        """The sessions an ordinary (non-superuser) client may open."""
        return self.max_connections - sum(self.reserved.values())


@dataclasses.dataclass(slots=True)
class SessionGroup:
    """Sessions of one pool in one process, or other sessions of one kind."""

    #: "multipool" (identified by the identity), else "other".
    kind: str
    #: multipool: pool name; other: the application the session named, or "".
    name: str
    host: str
    #: multipool only: the process id and the pool's max_size.
    pid: int | None = None
    max_size: int | None = None
    user: str = ""
    sessions: int = 0
    active: int = 0
    idle: int = 0
    idle_in_transaction: int = 0

    def add(self, state: str) -> None:
        self.sessions += 1
        if state == "active":
            self.active += 1
        elif state == "idle in transaction":
            self.idle_in_transaction += 1
        else:
            self.idle += 1

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(slots=True)
class ServerView:
    vendor: str
    limits: Limits
    groups: list[SessionGroup]
    #: False where the server cannot show the identities (MariaDB without
    #: performance_schema): then no session is known to be ours.
    identities_visible: bool
    warnings: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    #: OPTIONS["pool"]["behind"] of the alias asked: the server's sessions are
    #: then a pooler's, and the pools' max_size counts against the pooler.
    behind: str | None = None

    @property
    def pools(self) -> list[SessionGroup]:
        return [g for g in self.groups if g.kind == "multipool"]

    @property
    def fleet_max(self) -> int:
        """What every pool seen may open, together: the sum of their max_size."""
        return sum(g.max_size or 0 for g in self.pools)

    @property
    def fleet_sessions(self) -> int:
        return sum(g.sessions for g in self.pools)

    @property
    def other_sessions(self) -> int:
        return sum(g.sessions for g in self.groups if g.kind != "multipool")

    @property
    def exhausts(self) -> bool:
        """Whether the pools at max_size, with the other sessions, pass the limit."""
        if self.behind is not None:
            return False  # the pooler's server sessions are the budget, not our pools
        return self.fleet_max + self.other_sessions > self.limits.for_clients

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "max_connections": self.limits.max_connections,
            "reserved": dict(self.limits.reserved),
            "extra": dict(self.limits.extra),
            "for_clients": self.limits.for_clients,
            "identities_visible": self.identities_visible,
            "pools_seen": len(self.pools),
            "fleet_sessions": self.fleet_sessions,
            "fleet_max": self.fleet_max,
            "other_sessions": self.other_sessions,
            "exhausts": self.exhausts,
            "behind": self.behind,
            "groups": [g.as_dict() for g in self.groups],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def summarize(
    vendor: str,
    limits: Limits,
    rows: Iterable[SessionRow],
    *,
    identities_visible: bool = True,
    exclude_pid: tuple[int, str] | None = None,
    notes: Iterable[str] = (),
    behind: str | None = None,
) -> ServerView:
    """Group sessions by pool and process (ours) or application/user/client (others).

    ``exclude_pid`` = (pid, host) of the process asking: its own pool is not
    the fleet's, and its session is the one reading.
    """
    groups: dict[tuple[Any, ...], SessionGroup] = {}
    for row in rows:
        identity = PoolIdentity.parse(row.identity)
        if identity is not None:
            if exclude_pid is not None and (identity.pid, identity.host) == exclude_pid:
                continue
            key: tuple[Any, ...] = ("multipool", identity.pool, identity.host, identity.pid)
            group = groups.get(key)
            if group is None:
                group = groups[key] = SessionGroup(
                    "multipool",
                    identity.pool,
                    identity.host,
                    identity.pid,
                    identity.max_size,
                    user=row.user,
                )
        else:
            key = ("other", row.identity or "", row.user, row.client)
            group = groups.get(key)
            if group is None:
                group = groups[key] = SessionGroup(
                    "other", row.identity or "", row.client, user=row.user
                )
        group.add(row.state)
    ordered = sorted(
        groups.values(),
        key=lambda g: (g.kind != "multipool", g.name, g.host, g.pid or 0, g.user),
    )
    view = ServerView(
        vendor, limits, ordered, identities_visible, notes=list(notes), behind=behind
    )
    if behind is not None:
        view.notes.append(
            f"this alias is behind a pooler ({behind}): the sessions above are the pooler's, "
            f"each showing the client of its latest transaction, so the pools' max_size adds "
            f"up against the pooler's max_client_conn, and the server's budget is the "
            f"pooler's pool size (docs/scaling.md)."
        )
    view.warnings = _warnings(view)
    return view


def _warnings(view: ServerView) -> list[str]:
    limits, warnings = view.limits, []
    reserved = f" ({limits.max_connections} minus {sum(limits.reserved.values())} reserved)"
    if not view.identities_visible:
        warnings.append(
            "the server does not show which sessions are pooled, so the fleet's maximum is "
            "unknown: only the sessions open now are counted."
        )
    if view.exhausts:
        warnings.append(
            f"the pools seen may open {view.fleet_max} sessions at max_size, and "
            f"{view.other_sessions} other sessions are open: together "
            f"{view.fleet_max + view.other_sessions}, more than the {limits.for_clients} "
            f"the server accepts from ordinary users{reserved if limits.reserved else ''}. "
            f"Under full load some processes will be refused connections: lower max_size, "
            f"run fewer processes, raise max_connections, or put a server-side pooler "
            f"in between (docs/scaling.md)."
        )
    elif (
        view.behind is None
        and view.pools
        and view.fleet_max + view.other_sessions > 0.9 * limits.for_clients
    ):
        warnings.append(
            f"the pools seen may open {view.fleet_max} of the {limits.for_clients} sessions "
            f"the server accepts, with {view.other_sessions} others open: less than 10% "
            f"left for another process or host (docs/scaling.md)."
        )
    return warnings


# -- reading the server ------------------------------------------------------------------


def read_server(connection: Any, *, behind: str | None = None) -> ServerView:
    """What the server of Django ``connection`` shows: limits and client sessions.

    The calling process's own pool and session are left out. ``behind`` is
    the alias's ``OPTIONS["pool"]["behind"]``.
    """
    reader = _READERS.get(connection.vendor)
    if reader is None:
        raise NotImplementedError(f"no server view for vendor {connection.vendor!r}")
    with connection.cursor() as cursor:
        return reader(cursor, behind)


def _this_process() -> tuple[int, str]:
    me = PoolIdentity.of_this_process("", 0)
    return me.pid, me.host


def _postgresql(cursor: Any, behind: str | None) -> ServerView:
    cursor.execute(
        "SELECT current_setting('max_connections')::int,"
        " current_setting('superuser_reserved_connections')::int,"
        # PostgreSQL 16+; NULL before.
        " current_setting('reserved_connections', true)::int"
    )
    max_connections, superuser, reserved = cursor.fetchone()
    limits = Limits(max_connections, {"superuser_reserved_connections": superuser})
    if reserved is not None:
        limits.reserved["reserved_connections"] = reserved
    # Only client backends take a max_connections slot (background workers,
    # autovacuum and WAL senders have their own).
    cursor.execute(
        "SELECT application_name, coalesce(usename, ''), coalesce(host(client_addr), 'local'),"
        " coalesce(state, ''), coalesce(datname, '')"
        " FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    rows = [
        SessionRow(app or None, user, client, _pg_state(state), db)
        for app, user, client, state, db in cursor.fetchall()
    ]
    return summarize("postgresql", limits, rows, exclude_pid=_this_process(), behind=behind)


def _pg_state(state: str) -> str:
    if state.startswith("idle in transaction"):
        return "idle in transaction"
    return "idle" if state == "idle" else "active"


def _mysql(cursor: Any, behind: str | None) -> ServerView:
    cursor.execute("SELECT @@max_connections, @@performance_schema, VERSION()")
    max_connections, performance_schema, version = cursor.fetchone()
    # MariaDB and MySQL let one more session in for an administrator
    # (SUPER / CONNECTION ADMIN) once max_connections are taken.
    limits = Limits(int(max_connections), extra={"administrator": 1})
    if "mariadb" in _text(version).lower():
        # MariaDB's extra port has slots of its own (MySQL's admin port is unlimited).
        cursor.execute("SELECT @@extra_port, @@extra_max_connections")
        extra_port, extra_max = cursor.fetchone()
        if int(extra_port or 0):
            limits.extra["extra_max_connections"] = int(extra_max)
    if int(performance_schema):
        cursor.execute(
            "SELECT a.ATTR_VALUE, p.USER, p.HOST, p.COMMAND, coalesce(p.DB, '')"
            " FROM information_schema.PROCESSLIST p"
            " LEFT JOIN performance_schema.session_connect_attrs a"
            " ON a.PROCESSLIST_ID = p.ID AND a.ATTR_NAME = 'program_name'"
            " WHERE p.ID <> CONNECTION_ID() AND p.COMMAND NOT IN ('Daemon', 'Binlog Dump')"
            " AND p.USER NOT IN ('system user', 'event_scheduler')"
        )
        notes = []
    else:
        cursor.execute(
            "SELECT NULL, p.USER, p.HOST, p.COMMAND, coalesce(p.DB, '')"
            " FROM information_schema.PROCESSLIST p"
            " WHERE p.ID <> CONNECTION_ID() AND p.COMMAND NOT IN ('Daemon', 'Binlog Dump')"
            " AND p.USER NOT IN ('system user', 'event_scheduler')"
        )
        notes = [
            "performance_schema is OFF on this server, and only there does it show the "
            "connection attributes that name each session's pool and process: sessions are "
            "grouped by user and client host. Set performance_schema = ON in the server's "
            "configuration (it needs a restart) to see the pools (docs/vendors/mysql.md)."
        ]
    rows = [
        SessionRow(
            _text(attr),
            _text(user),
            _text(host).rsplit(":", 1)[0],
            "idle" if _text(command) == "Sleep" else "active",
            _text(db),
        )
        for attr, user, host, command, db in cursor.fetchall()
    ]
    return summarize(
        "mysql",
        limits,
        rows,
        identities_visible=bool(int(performance_schema)),
        exclude_pid=_this_process(),
        notes=notes,
        behind=behind,
    )


def _oracle(cursor: Any, behind: str | None) -> ServerView:
    cursor.execute("SELECT name, value FROM v$parameter WHERE name IN ('sessions', 'processes')")
    parameters = {name: int(value) for name, value in cursor.fetchall()}
    # A dedicated-server session is also a server process: the lower one binds.
    limits = Limits(min(parameters["sessions"], parameters["processes"]))
    cursor.execute(
        "SELECT program, username, machine, status, schemaname FROM v$session"
        " WHERE type = 'USER' AND sid <> SYS_CONTEXT('USERENV', 'SID')"
    )
    rows = [
        SessionRow(
            program,
            username or "",
            machine or "",
            "active" if status == "ACTIVE" else "idle",
            schema or "",
        )
        for program, username, machine, status, schema in cursor.fetchall()
    ]
    notes = [
        f"sessions = {parameters['sessions']}, processes = {parameters['processes']}: the "
        f"lower is shown as max_connections (background processes take some of processes)."
    ]
    return summarize(
        "oracle", limits, rows, exclude_pid=_this_process(), notes=notes, behind=behind
    )


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.decode(errors="replace")
    return "" if value is None else str(value)


_READERS: dict[str, Callable[[Any, str | None], ServerView]] = {
    "postgresql": _postgresql,
    "mysql": _mysql,
    "oracle": _oracle,
}
#: Django vendors whose server :func:`read_server` can ask.
SERVER_VENDORS = frozenset(_READERS)
