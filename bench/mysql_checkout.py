"""What one MySQL checkout + return costs, against mysql-connector's own pool, in one run.

    python bench/mysql_checkout.py [--rounds 7] [--iterations 5000]

Prints, best of ``--rounds`` (rounds interleave the contenders so drift hits
them alike), with default settings everywhere:

1. microseconds per cycle: our pool (``pool.acquire(); pool.release(conn)``,
   the pool built by the backend itself) against mysql-connector's
   ``MySQLConnectionPool.get_connection(); cnx.close()`` (its default
   ``pool_reset_session=True``, and ``False`` for reference); then the Django
   cycle ``connection.ensure_connection(); connection.close()`` on our backend
   against ``mysql.connector.django`` without a pool, for scale;
2. server round trips per cycle: for our pool, counted by the server (the
   session's ``Questions`` + ``Com_admin_commands``, which counts COM_PING),
   with a ``check=True`` control that must show 1 so a 0 cannot come from a
   blind counter; for mysql-connector's pool, whose COM_RESET_CONNECTION
   resets those session counters, by counting the commands it writes to its
   socket (each command waits for its reply).

Needs MariaDB/MySQL: MULTIPOOL_MYSQL_DSN (default
mysql://root@127.0.0.1:3306/mysql). Uses the database ``multipool_bench``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

from tests.servers import parse_dsn
from tests.vendors import VENDORS

DATABASE = "multipool_bench"


def server_settings() -> dict[str, Any]:
    """HOST, PORT, USER and PASSWORD of MULTIPOOL_MYSQL_DSN's server."""
    dsn = os.environ.get("MULTIPOOL_MYSQL_DSN", "mysql://root@127.0.0.1:3306/mysql")
    server = parse_dsn(VENDORS["mysql"], dsn)
    return {
        "HOST": server.host,
        "PORT": server.port or 3306,
        "USER": server.user or "root",
        "PASSWORD": server.password,
    }


def configure() -> None:
    server = server_settings()
    base = {"NAME": DATABASE, "CONN_MAX_AGE": 0, **server}
    settings.configure(
        DATABASES={
            "default": {
                **base,
                "ENGINE": "django_multipool.backends.mysql",
                "OPTIONS": {"pool": True},
            },
            "counted": {
                **base,
                "ENGINE": "django_multipool.backends.mysql",
                "OPTIONS": {"pool": {"min_size": 1, "max_size": 1}},
            },
            "control": {
                **base,
                "ENGINE": "django_multipool.backends.mysql",
                "OPTIONS": {"pool": {"min_size": 1, "max_size": 1, "check": True}},
            },
            "connector": {
                **base,
                "ENGINE": "mysql.connector.django",
                "OPTIONS": {"use_pure": True},
            },
        },
        INSTALLED_APPS=["django_multipool"],
        USE_TZ=True,
    )
    django.setup()
    import mysql.connector

    admin = mysql.connector.connect(
        host=server["HOST"],
        port=server["PORT"],
        user=server["USER"],
        password=server["PASSWORD"],
        use_pure=True,
        autocommit=True,
    )
    admin.cmd_query(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
    admin.close()


def best_us(contenders: dict[str, Callable[[], None]], rounds: int, n: int) -> dict[str, float]:
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, cycle in contenders.items():
            started = time.perf_counter()
            for _ in range(n):
                cycle()
            best[name] = min(best[name], (time.perf_counter() - started) / n * 1e6)
    return best


def session_commands(raw: Any) -> int:
    raw.cmd_query("SHOW SESSION STATUS WHERE Variable_name IN ('Questions', 'Com_admin_commands')")
    return sum(int(value) for _, value in raw.get_rows()[0])


def server_round_trips(pool: Any, cycles: int) -> float:
    """Per cycle, counted by the server on the pool's only connection."""
    conn = pool.acquire()
    first = session_commands(conn)
    reading = session_commands(conn) - first
    pool.release(conn)
    for _ in range(cycles):
        pool.release(pool.acquire())
    conn = pool.acquire()  # counted too: the control shows cycles + 1
    last = session_commands(conn)
    pool.release(conn)
    return (last - first - 2 * reading) / cycles


def written_commands(cnx: Any, cycle: Callable[[], None], cycles: int) -> float:
    """Per cycle, commands written to ``cnx``'s socket."""
    sock = cnx._socket
    send = sock.send
    sent = 0

    def counting_send(*args: Any, **kwargs: Any) -> Any:
        nonlocal sent
        sent += 1
        return send(*args, **kwargs)

    sock.send = counting_send
    try:
        for _ in range(cycles):
            cycle()
    finally:
        sock.send = send
    return sent / cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=5000)
    args = parser.parse_args()
    configure()

    import mysql.connector
    from django.db import connections
    from mysql.connector.pooling import MySQLConnectionPool

    ours = connections["default"].pool
    server = server_settings()
    connect_kwargs = dict(
        host=server["HOST"],
        port=server["PORT"],
        user=server["USER"],
        password=server["PASSWORD"],
        database=DATABASE,
        use_pure=True,
        autocommit=True,
    )
    theirs = MySQLConnectionPool(pool_size=10, **connect_kwargs)  # default reset on
    theirs_no_reset = MySQLConnectionPool(pool_size=10, pool_reset_session=False, **connect_kwargs)
    time.sleep(0.5)  # let min_size fill

    def our_cycle() -> None:
        ours.release(ours.acquire())

    def their_cycle() -> None:
        theirs.get_connection().close()

    def their_cycle_no_reset() -> None:
        theirs_no_reset.get_connection().close()

    pool_us = best_us(
        {
            "ours": our_cycle,
            "mysql-connector": their_cycle,
            "mysql-connector (reset off)": their_cycle_no_reset,
        },
        args.rounds,
        args.iterations,
    )

    ours_django = connections["default"]
    connector_django = connections["connector"]

    def our_django_cycle() -> None:
        ours_django.ensure_connection()
        ours_django.close()

    def connector_django_cycle() -> None:
        connector_django.ensure_connection()
        connector_django.close()

    our_django_cycle()  # the wrapper asks the server its version once
    django_us = best_us({"ours": our_django_cycle}, args.rounds, args.iterations)
    django_us.update(
        best_us(
            {"mysql.connector.django, no pool": connector_django_cycle},
            max(1, args.rounds // 2),
            max(50, args.iterations // 50),
        )
    )

    print(
        f"MySQL checkout + return, best of {args.rounds} rounds "
        f"({mysql.connector.__version__}, pure Python protocol)"
    )
    print("  pool cycle (acquire + release)           us/cycle")
    for name, us in pool_us.items():
        print(f"    {name:38} {us:8.2f}")
    ratio = pool_us["mysql-connector"] / pool_us["ours"]
    print(f"    ratio mysql-connector / ours          {ratio:8.1f}x")
    print("  Django cycle (ensure_connection + close)")
    for name, us in django_us.items():
        print(f"    {name:38} {us:8.2f}")

    cycles = 200
    counted = connections["counted"].pool
    control = connections["control"].pool
    print("  server round trips per cycle")
    print(f"    ours, default settings (server count)  {server_round_trips(counted, cycles):6.2f}")
    print(
        f"    control: ours with check=True          {server_round_trips(control, cycles):6.2f}"
        f"   (expected {(cycles + 1) / cycles:.2f})"
    )
    for name, pool in (
        ("mysql-connector", theirs),
        ("mysql-connector (reset off)", theirs_no_reset),
    ):
        cnx = pool.get_connection()
        raw = cnx._cnx
        cnx.close()
        # One connection in play: take all the others out first.
        others = [pool.get_connection() for _ in range(9)]

        def cycle(pool: Any = pool) -> None:
            pool.get_connection().close()

        per_cycle = written_commands(raw, cycle, cycles)
        for other in others:
            other.close()
        print(f"    {name + ' (socket count)':38} {per_cycle:6.2f}")

    for alias in connections:
        connections[alias].close()
    ours.close()


if __name__ == "__main__":
    main()
