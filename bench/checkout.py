"""What one checkout + return costs, against each vendor's alternatives, in the same run.

    python -m bench.checkout [--vendor postgresql,mysql] [--rounds 7] [--iterations 20000]
                             [--quick]

For each vendor, best of ``--rounds`` interleaved rounds:

1. the pool cycle: our backend's pool (``connections[alias].pool``: acquire +
   release) against the driver's own pool with the same sizes (psycopg_pool's
   getconn + putconn; mysql-connector's get_connection + close, with its
   default session reset and without); ours also with ``check=False`` and with
   ``leak_timeout`` (which records each checkout's stack);
2. the Django cycle ``ensure_connection(); close()``: ours against Django's
   pooled PostgreSQL backend, and a new connection per cycle for scale;
3. server round trips per cycle, counted outside django-multipool (libpq's
   protocol trace; MariaDB's session counters; commands written to
   mysql-connector's socket), with controls that must show 1 per cycle so a
   0 cannot come from a blind counter.

Writes bench/results/checkout-<vendor>.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from typing import Any

from bench import _bootstrap as bench
from tests.servers import Server

Cycle = Callable[[], Any]
SIZES = {"min_size": 1, "max_size": 10}
ROUND_TRIP_CYCLES = 1000
#: The backend's ENGINE for each vendor's own (Django's or the driver's) contender.
THEIR_ENGINE = {"postgresql": "django.db.backends.postgresql", "mysql": "mysql.connector.django"}


def databases(vendor: str, server: Server) -> dict[str, dict[str, Any]]:
    theirs = {"ENGINE": THEIR_ENGINE[vendor]}
    found = {
        "ours": bench.entry(server, dict(SIZES)),
        "ours_no_check": bench.entry(server, {**SIZES, "check": False}),
        # leak_timeout records each checkout's stack: what that costs.
        "ours_leak_timeout": bench.entry(server, {**SIZES, "leak_timeout": 60}),
        # One connection each, so a counter on it sees every checkout.
        "ours_single": bench.entry(server, {"min_size": 1, "max_size": 1}),
        "ours_check_always": bench.entry(server, {"min_size": 1, "max_size": 1, "check": True}),
        "no_pool": bench.entry(server, **theirs),
    }
    if vendor == "postgresql":
        found["django_pool"] = bench.entry(server, dict(SIZES), **theirs)
        found["django_pool_single"] = bench.entry(server, {"min_size": 1, "max_size": 1}, **theirs)
    else:
        found["no_pool"]["OPTIONS"] = {"use_pure": True}
    return {f"{vendor}_{alias}": settings for alias, settings in found.items()}


def wrapper(vendor: str, alias: str) -> Any:
    from django.db import connections

    return connections[f"{vendor}_{alias}"]


def pool_cycle(pool: Any, sql: str | None = None) -> Cycle:
    """acquire + release; returns the connection it used (the round-trip counts check it)."""

    def cycle() -> Any:
        conn = pool.acquire()
        if sql:  # psycopg's Connection.execute: the PostgreSQL control
            conn.execute(sql)
        pool.release(conn)
        return conn

    return cycle


def django_cycle(connection: Any) -> Cycle:
    def cycle() -> Any:
        connection.ensure_connection()
        conn = connection.connection
        connection.close()
        return conn

    return cycle


# -- PostgreSQL ----------------------------------------------------------------


def postgresql_raw_pool(server: Server) -> tuple[str, Cycle, Callable[[], None]]:
    import psycopg_pool

    # What our adapter hands psycopg_pool: autocommit connections, no callbacks;
    # our check=60 has no psycopg_pool equivalent and costs no round trip.
    raw: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
        kwargs={
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": server.password,
            "dbname": bench.DATABASE,
            "autocommit": True,
        },
        open=False,
        timeout=30.0,
        max_lifetime=1800.0,
        max_idle=600.0,
        **SIZES,
    )
    raw.open(wait=True)
    getconn, putconn = raw.getconn, raw.putconn
    return "psycopg_pool getconn + putconn", lambda: putconn(getconn()), raw.close


def traced_round_trips(label: str, cycle: Cycle) -> float:
    """Round trips per cycle in libpq's trace of the one connection the cycles use."""
    from psycopg import pq

    conn = cycle()
    used: set[int] = set()
    with tempfile.TemporaryFile() as log:
        # libpq fdopen()s the descriptor and never closes it: give it its own.
        conn.pgconn.trace(os.dup(log.fileno()))
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            for _ in range(ROUND_TRIP_CYCLES):
                used.add(id(cycle()))
        finally:
            conn.pgconn.untrace()  # flushes libpq's buffer
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
    if used != {id(conn)}:
        raise RuntimeError(f"{label}: the cycles used {len(used)} connections; the trace saw one")
    # A round trip ends each frontend batch: a simple Query or an extended-protocol Sync.
    requests = [ln for ln in lines if ln.startswith("F") and ("\tQuery\t" in ln or "\tSync" in ln)]
    return len(requests) / ROUND_TRIP_CYCLES


def postgresql_round_trips() -> dict[tuple[str, str], float]:
    single = wrapper("postgresql", "ours_single").pool
    always = wrapper("postgresql", "ours_check_always").pool
    cases = {
        ("ours", "pool cycle"): pool_cycle(single),
        ("ours", "Django cycle"): django_cycle(wrapper("postgresql", "ours_single")),
        ("Django's pool", "Django cycle"): django_cycle(
            wrapper("postgresql", "django_pool_single")
        ),
        ("control: ours + SELECT 1", "pool cycle"): pool_cycle(single, "SELECT 1"),
        ("control: ours, check=True", "pool cycle"): pool_cycle(always),
    }
    return {key: traced_round_trips(" ".join(key), cycle) for key, cycle in cases.items()}


# -- MySQL -----------------------------------------------------------------------


def mysql_connect_kwargs(server: Server) -> dict[str, Any]:
    return {
        "host": server.host,
        "port": server.port or 3306,
        "user": server.user,
        "password": server.password,
        "database": bench.DATABASE,
        "use_pure": True,
        "autocommit": True,
    }


def mysql_pools(server: Server) -> dict[str, Any]:
    from mysql.connector.pooling import MySQLConnectionPool

    kwargs = mysql_connect_kwargs(server)
    return {
        "mysql-connector pool": MySQLConnectionPool(pool_size=10, **kwargs),
        "mysql-connector pool, reset off": MySQLConnectionPool(
            pool_size=10, pool_reset_session=False, **kwargs
        ),
    }


def session_commands(conn: Any) -> int:
    """The session's commands so far, by the server's count (DB-API: either MySQL driver)."""
    cursor = conn.cursor()
    cursor.execute(
        "SHOW SESSION STATUS WHERE Variable_name IN ('Questions', 'Com_admin_commands')"
    )
    rows = cursor.fetchall()
    cursor.close()
    return sum(int(value) for _, value in rows)


def counted_round_trips(pool: Any, cycle: Cycle | None = None) -> float:
    """Per cycle, counted by the server (COM_PING included) on the pool's only connection."""
    cycle = cycle or pool_cycle(pool)
    cycle()  # a first Django checkout asks the server its version, once per wrapper
    conn = pool.acquire()
    first = session_commands(conn)
    reading = session_commands(conn) - first
    pool.release(conn)
    for _ in range(ROUND_TRIP_CYCLES):
        cycle()
    conn = pool.acquire()
    last = session_commands(conn)
    pool.release(conn)
    # The last acquire is counted too: the check=True control shows (n + 1) / n.
    return (last - first - 2 * reading) / ROUND_TRIP_CYCLES


def written_commands(pool: Any) -> float:
    """Per cycle, commands written to the socket of mysql-connector's pooled connection.

    Its COM_RESET_CONNECTION resets the server's session counters, so these
    are counted on the client; each command waits for its reply.
    """
    cnx = pool.get_connection()
    sock = cnx._cnx._socket
    cnx.close()
    others = [pool.get_connection() for _ in range(pool.pool_size - 1)]  # one in play
    send, sent = sock.send, 0

    def counting_send(*args: Any, **kwargs: Any) -> Any:
        nonlocal sent
        sent += 1
        return send(*args, **kwargs)

    sock.send = counting_send
    try:
        for _ in range(ROUND_TRIP_CYCLES):
            pool.get_connection().close()
    finally:
        sock.send = send
        for other in others:
            other.close()
    return sent / ROUND_TRIP_CYCLES


def mysql_round_trips(pools: dict[str, Any]) -> dict[tuple[str, str], float]:
    single = wrapper("mysql", "ours_single")
    found = {
        ("ours", "pool cycle"): counted_round_trips(single.pool),
        ("ours", "Django cycle"): counted_round_trips(single.pool, django_cycle(single)),
        ("control: ours, check=True", "pool cycle"): counted_round_trips(
            wrapper("mysql", "ours_check_always").pool
        ),
    }
    for name, pool in pools.items():
        found[(name, "pool cycle")] = written_commands(pool)
    return found


# -- running ---------------------------------------------------------------------------


def measure(vendor: str, server: Server, args: argparse.Namespace) -> bench.Recorder:
    n, rounds = args.iterations, args.rounds
    recorder = bench.Recorder(
        "checkout", server, {"rounds": rounds, "iterations": n, "pool": SIZES}, args.quick
    )
    ours = wrapper(vendor, "ours")
    pool_contenders: dict[str, Cycle] = {
        "ours": pool_cycle(ours.pool),
        "ours, check=False": pool_cycle(wrapper(vendor, "ours_no_check").pool),
        "ours, leak_timeout=60": pool_cycle(wrapper(vendor, "ours_leak_timeout").pool),
    }
    closers: list[Callable[[], None]] = []
    mysql_driver_pools: dict[str, Any] = {}
    if vendor == "postgresql":
        label, cycle, close = postgresql_raw_pool(server)
        pool_contenders[label] = cycle
        closers.append(close)
        baseline = label
    else:
        mysql_driver_pools = mysql_pools(server)
        for label, driver_pool in mysql_driver_pools.items():
            pool_contenders[label] = lambda p=driver_pool: p.get_connection().close()
        baseline = "mysql-connector pool"
    for cycle in pool_contenders.values():  # warm up: open pools, fill caches
        for _ in range(200):
            cycle()
    pool_us = bench.best_of(
        rounds, {name: bench.timed(cycle, n) for name, cycle in pool_contenders.items()}
    )

    django_contenders = {
        "ours": django_cycle(ours),
        "ours, leak_timeout=60": django_cycle(wrapper(vendor, "ours_leak_timeout")),
    }
    if vendor == "postgresql":
        django_contenders["Django's pool"] = django_cycle(wrapper(vendor, "django_pool"))
    for cycle in django_contenders.values():
        for _ in range(50):
            cycle()
    m = max(1, n // 4)
    django_us = bench.best_of(
        rounds, {name: bench.timed(cycle, m) for name, cycle in django_contenders.items()}
    )
    no_pool = django_cycle(wrapper(vendor, "no_pool"))
    django_us["no pool: a new connection per cycle"] = bench.best_of(
        max(1, rounds // 2), {"no pool": bench.timed(no_pool, max(20, n // 200))}
    )["no pool"]

    if vendor == "postgresql":
        trips = postgresql_round_trips()
    else:
        trips = mysql_round_trips(mysql_driver_pools)

    print(f"\n{vendor}: checkout + return, best of {rounds} rounds")
    for name, us in pool_us.items():
        ratio = us / pool_us[baseline]
        recorder.add(name, "pool cycle", us_per_cycle=round(us, 3), ratio=round(ratio, 3))
        print(f"  pool cycle    {name:<40} {us:9.2f} µs  {ratio:5.2f}x {baseline}")
    reference = django_us.get("Django's pool")
    for name, us in django_us.items():
        ratio = round(us / reference, 3) if reference else None
        recorder.add(name, "Django cycle", us_per_cycle=round(us, 3), ratio=ratio)
        print(f"  Django cycle  {name:<40} {us:9.2f} µs")
    for (name, case), per_cycle in trips.items():
        recorder.add(name, case, round_trips_per_cycle=round(per_cycle, 3))
        print(f"  round trips   {name + ' (' + case + ')':<40} {per_cycle:9.2f} per cycle")
    recorder.notes.append(
        f"ratio: to {baseline} (pool cycle)"
        + (", to Django's pool (Django cycle)" if reference else "")
    )
    for close in closers:
        close()
    return recorder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench.add_common_arguments(parser)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=20_000, help="per pool-cycle round")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.iterations = 2, 2000
    found = bench.servers(bench.vendors(parser, args.vendor))
    for server in found.values():
        bench.probe(server).ensure_database(bench.DATABASE)
    bench.configure(
        {
            alias: settings
            for vendor, server in found.items()
            for alias, settings in databases(vendor, server).items()
        }
    )
    for vendor, server in found.items():
        measure(vendor, server, args).write(not args.no_json)
    bench.close_all()
    return 0 if found else 2


if __name__ == "__main__":
    raise SystemExit(main())
