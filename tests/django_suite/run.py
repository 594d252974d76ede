"""Run Django's own test suite on one of our ENGINEs.

    python tests/django_suite/run.py postgresql --release transaction
    python tests/django_suite/run.py mysql --engine django   # Django's own backend
    python tests/django_suite/run.py postgresql -- queries.test_qs_combinators -v 2
    python tests/django_suite/run.py postgresql --behind-pgbouncer transaction -- basic

Django's source archive on PyPI (the sdist) ships ``tests/`` and
``runtests.py``. This script downloads the sdist of the *installed* Django
version with pip (once: it is cached under ``.cache/django-suite/``, or
``$MULTIPOOL_DJSUITE_CACHE``), unpacks its ``tests/``, and runs
``runtests.py`` with ``--settings=multipool_<vendor>`` (the modules beside
this file) on the selection of apps below, or on the labels given after
``--``. It ends with the counts, the last line in the form
``djsuite: N passed, N failed, N skipped``.

docs/internals/django-test-suite.md says what runs, what is skipped and why.

``--behind-pgbouncer MODE`` starts a PgBouncer of its own (tests/pgbouncer.py)
in front of ``MULTIPOOL_POSTGRESQL_DSN`` and points the suite at it. The run
is then serial with ``--keepdb``: PgBouncer keeps server sessions open on
the test databases, so Django could neither clone them (``--parallel``) nor
drop them; this script drops them on the server itself, before and after.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENDORS = ("postgresql", "mysql", "oracle")
#: As in multipool_mysql.py: the server when MULTIPOOL_MYSQL_DSN is not set.
MYSQL_DEFAULT_DSN = "mysql://root@127.0.0.1:3306/mysql"

#: The selection: what a pool can break (connections, transactions, cursors,
#: schema changes, locking, test isolation, the async ORM), the bulk of the
#: ORM's queries, and the contrib parts real sites run on the database
#: (DatabaseCache's raw cursors, database-backed sessions).
APPS = (
    "backends",
    "transactions",
    "transaction_hooks",
    "basic",
    "queries",
    "model_fields",
    "migrations",
    "select_for_update",
    "bulk_create",
    "test_utils",
    "async",
    "delete",
    "get_or_create",
    "update",
    "multiple_database",
    "fixtures",
    "schema",
    "cache",
    "sessions_tests",
    "db_functions",
    "admin_views",
)

#: Where the OS keeps the IANA time-zone database (Debian's tzdata package).
ZONEINFO = Path("/usr/share/zoneinfo")


def django_tests(cache: Path) -> Path:
    """Return the ``tests/`` directory of the installed Django's sdist, fetching it once."""
    version = importlib.metadata.version("django")
    target = cache / f"django-{version}"
    tests = target / "tests"
    if (tests / "runtests.py").is_file():
        return tests
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        print(f"djsuite: downloading Django {version}'s source archive", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                "--dest",
                tmp,
                f"django=={version}",
            ],
            check=True,
        )
        (archive,) = Path(tmp).glob("*.tar.gz")
        with tarfile.open(archive) as tar:
            root = tar.getnames()[0].split("/")[0]  # "django-6.1.3"
            members = [m for m in tar.getmembers() if m.name.startswith(f"{root}/tests/")]
            tar.extractall(tmp, members=members, filter="data")
        staged = Path(tmp) / root
        if target.exists():  # a run interrupted half-way
            shutil.rmtree(target)
        staged.rename(target)
    return tests


def _mysql_client(dsn: str) -> tuple[list[str], dict[str, str]]:
    """The command-line client's arguments for the DSN's server, and its environment.

    The password travels in MYSQL_PWD, never on a command line others can read.
    """
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise SystemExit(
            "djsuite: no mariadb or mysql command-line client to check the server's "
            "time-zone tables; install one (Debian: apt-get install mariadb-client)"
        )
    parts = urlsplit(dsn)
    command = [client, f"--host={parts.hostname}", f"--user={unquote(parts.username or '')}"]
    if parts.port:
        command.append(f"--port={parts.port}")
    env = {**os.environ, "MYSQL_PWD": unquote(parts.password or "")}
    return command, env


def ensure_mysql_time_zones(dsn: str) -> None:
    """Load the server's time-zone tables when they are empty, as Django's CI does.

    Django's ``db_functions`` and ``timezones`` tests convert with
    ``CONVERT_TZ()``, which returns NULL for named zones until the tables in
    the ``mysql`` schema are filled (the official MySQL and MariaDB images
    fill them at initialisation; a distribution's package leaves them empty).
    A filled server costs one query.
    """
    client, env = _mysql_client(dsn)
    count = subprocess.run(
        [
            *client,
            "--batch",
            "--skip-column-names",
            "-e",
            "SELECT COUNT(*) FROM mysql.time_zone_name",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if count.returncode != 0:
        raise SystemExit(f"djsuite: reading the server's time-zone tables failed: {count.stderr}")
    if int(count.stdout.strip() or 0) > 0:
        return
    converter = shutil.which("mariadb-tzinfo-to-sql") or shutil.which("mysql_tzinfo_to_sql")
    if converter is None or not ZONEINFO.is_dir():
        raise SystemExit(
            "djsuite: the server's time-zone tables are empty and cannot be loaded here: "
            "it needs mariadb-tzinfo-to-sql (or mysql_tzinfo_to_sql) and "
            f"{ZONEINFO} (Debian: apt-get install mariadb-client tzdata)"
        )
    print(f"djsuite: loading the server's time-zone tables from {ZONEINFO}", flush=True)
    # The converter warns on stderr about files that are not zones (leap-seconds.list,
    # zone.tab, ...) and skips them.
    sql = subprocess.run(
        [converter, str(ZONEINFO)], check=True, capture_output=True, text=True
    ).stdout
    load = subprocess.run([*client, "mysql"], input=sql, env=env, capture_output=True, text=True)
    if load.returncode != 0:
        raise SystemExit(f"djsuite: loading the time-zone tables failed: {load.stderr}")


def summarise(output: str) -> tuple[str, int, int, int, int] | None:
    """(line, passed, failed, skipped, expected failures) from unittest's closing lines."""
    ran = re.search(r"^Ran (\d+) tests? in ", output, re.M)
    verdict = re.search(r"^(OK|FAILED)(?: \((.*)\))?$", output, re.M)
    if not ran or not verdict:
        return None
    counts = dict.fromkeys(
        ("failures", "errors", "skipped", "expected failures", "unexpected successes"), 0
    )
    for part in (verdict.group(2) or "").split(", "):
        key, _, value = part.partition("=")
        if key in counts:
            counts[key] = int(value)
    failed = counts["failures"] + counts["errors"] + counts["unexpected successes"]
    skipped, xfail = counts["skipped"], counts["expected failures"]
    passed = int(ran.group(1)) - failed - skipped - xfail
    line = (
        f"ran {ran.group(1)}: {passed} passed, {failed} failed "
        f"({counts['failures']} failures, {counts['errors']} errors, "
        f"{counts['unexpected successes']} unexpected successes), "
        f"{skipped} skipped, {xfail} expected failures"
    )
    return line, passed, failed, skipped, xfail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vendor", choices=VENDORS)
    parser.add_argument("--release", choices=("request", "transaction"), default="request")
    parser.add_argument(
        "--engine",
        choices=("multipool", "django"),
        default="multipool",
        help="django: the same tests on Django's own backend, for comparison",
    )
    parser.add_argument("--parallel", default="2", help="runtests.py --parallel (default 2)")
    parser.add_argument("--db-name", default="djsuite", help="database NAME (default djsuite)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("MULTIPOOL_DJSUITE_CACHE", REPO / ".cache" / "django-suite")),
    )
    parser.add_argument("--log", type=Path, help="also write runtests.py's output here")
    parser.add_argument(
        "--behind-pgbouncer",
        choices=("transaction", "session"),
        help="postgresql only: run through a PgBouncer of its own in this pool_mode",
    )
    parser.epilog = "After --: test labels and runtests.py options (default: the selection)."
    argv = sys.argv[1:] if argv is None else argv
    # Everything after -- goes to runtests.py (argparse cannot take a second
    # positional list after options).
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.runtests_args = argv[split + 1 :]

    if args.behind_pgbouncer and args.vendor != "postgresql":
        parser.error("--behind-pgbouncer is for postgresql")
    if args.behind_pgbouncer:
        return behind_pgbouncer(args)
    return run(args)


def behind_pgbouncer(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO))
    from tests import pgbouncer
    from tests.servers import find_server

    server, why = find_server("postgresql")
    if server is None:
        print(f"djsuite: {why}", flush=True)
        return 1
    test_databases = [f"test_{args.db_name}", f"test_{args.db_name}_other"]
    bouncer = pgbouncer.PgBouncer(server, args.behind_pgbouncer).start()
    drop_databases(server, test_databases)
    try:
        os.environ["MULTIPOOL_POSTGRESQL_DSN"] = bouncer.server.dsn()
        os.environ["MULTIPOOL_DJSUITE_BEHIND"] = args.behind_pgbouncer
        args.parallel = "1"
        args.runtests_args = ["--keepdb", *args.runtests_args]
        return run(args)
    finally:
        bouncer.stop()
        drop_databases(server, test_databases)


def drop_databases(server: Any, names: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=server.host, port=server.port, user=server.user, password=server.password,
        dbname=server.database, autocommit=True,
    ) as conn:  # fmt: skip
        for name in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run(args: argparse.Namespace) -> int:
    # runtests.py runs in the tests directory: a relative --cache would not resolve there.
    tests = django_tests(args.cache.resolve())
    if args.vendor == "mysql":
        ensure_mysql_time_zones(os.environ.get("MULTIPOOL_MYSQL_DSN", MYSQL_DEFAULT_DSN))
    labels = [a for a in args.runtests_args if not a.startswith("-")]
    command = [
        sys.executable,
        str(tests / "runtests.py"),
        f"--settings=multipool_{args.vendor}",
        f"--parallel={args.parallel}",
        "--noinput",
        *args.runtests_args,
        *([] if labels else APPS),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "MULTIPOOL_DJSUITE_RELEASE": args.release,
        "MULTIPOOL_DJSUITE_ENGINE": args.engine,
        "MULTIPOOL_DJSUITE_NAME": args.db_name,
    }
    print(
        f"djsuite: Django {importlib.metadata.version('django')} on {args.vendor} "
        f"({args.engine} engine, release={args.release}"
        + (f", behind PgBouncer in {args.behind_pgbouncer} mode" if args.behind_pgbouncer else "")
        + f"): {' '.join(command[2:])}",
        flush=True,
    )
    # unittest reports on stderr; keep a copy to count from.
    with subprocess.Popen(
        command, cwd=tests, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        output = []
        log = args.log.open("w") if args.log else None
        for line in process.stdout:
            sys.stdout.write(line)
            output.append(line)
            if log:
                log.write(line)
        if log:
            log.close()
    summary = summarise("".join(output))
    if summary is None:
        print("djsuite: runtests.py ended without unittest's summary", flush=True)
        return process.returncode or 1
    line, passed, failed, skipped, _ = summary
    print(f"djsuite {args.vendor} release={args.release} engine={args.engine}: {line}")
    print(f"djsuite: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
