"""Check a built sdist and wheel as a release would ship them, then use the wheel.

    python tests/packaging/check_dist.py dist/

``nox -s package`` builds both (the wheel from the sdist, so a file missing
from the sdist breaks the wheel) and runs ``twine check`` before this. Here:

1. the sdist holds the sources, docs, tests, LICENSE and CHANGELOG, and no
   build output, caches, virtualenvs or benchmark results;
2. the wheel holds the package and its licence, nothing else;
3. the metadata declares the licence and a classifier for exactly the Django
   and Python versions of the nox matrix;
4. in a new virtualenv with only the wheel and its ``[all]`` extra installed,
   run from outside the repository: ``import django_multipool`` loads the
   installed copy, and ``manage.py check`` passes on each ENGINE with no
   server: the app's checks import the ENGINE's backend with its driver and
   validate ``OPTIONS["pool"]``; a misspelt pool key must fail them, which
   shows they ran. With models installed, Django's field checks ask the
   backend for its column types: no server needed on PostgreSQL and Oracle,
   while on Django 6.1 (which runs them for every alias) MySQL's, ours as
   Django's own, asks the server whether it is MariaDB. So for each vendor
   with ``MULTIPOOL_<VENDOR>_DSN`` set, ``check --database default`` (every
   check, the database ones too) and a query run through the installed pool
   (``MULTIPOOL_REQUIRE`` makes a missing DSN a failure).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SMOKE_PROJECT = Path(__file__).resolve().parent / "smoke_project"
VENDORS = ("postgresql", "mysql", "oracle")

#: Paths (relative to the sdist's root) a source release must carry.
SDIST_REQUIRED = (
    "PKG-INFO",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "noxfile.py",
    "django_multipool/__init__.py",
    "django_multipool/py.typed",
    "docs/index.md",
    "docs/conf.py",
    "tests/conftest.py",
    "tests/vendors/__init__.py",
    "tests/django_suite/run.py",
    "tests/packaging/smoke_project/manage.py",
)
#: Path components that must never be shipped: build output, caches,
#: virtualenvs, CI configuration and the developer tools that need a clone.
SDIST_FORBIDDEN_PARTS = frozenset(
    {
        ".git",
        ".github",
        ".ci",
        ".nox",
        ".venv",
        ".cache",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        "__pycache__",
        "_build",
        "bench",
        "demo",
        "scripts",
        "dist",
        "build",
    }
)
SDIST_FORBIDDEN_SUFFIXES = (".pyc", ".pyo", ".log")


def fail(message: str) -> None:
    raise SystemExit(f"check_dist: {message}")


def nox_matrix() -> tuple[set[str], set[str]]:
    """(Python versions, Django versions) of noxfile.py's MATRIX, read without nox."""
    tree = ast.parse((REPO / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "MATRIX" for t in node.targets
        ):
            pairs = ast.literal_eval(node.value)
            return {py for py, _ in pairs}, {dj for _, dj in pairs}
    fail("noxfile.py has no MATRIX")
    raise AssertionError  # unreachable


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    root = names[0].split("/")[0]
    members = {n[len(root) + 1 :] for n in names if n.startswith(f"{root}/")}
    missing = [p for p in SDIST_REQUIRED if p not in members]
    if missing:
        fail(f"{sdist.name} lacks {missing}: see MANIFEST.in")
    unwanted = sorted(
        m
        for m in members
        if SDIST_FORBIDDEN_PARTS.intersection(m.split("/")) or m.endswith(SDIST_FORBIDDEN_SUFFIXES)
    )
    if unwanted:
        fail(f"{sdist.name} ships {unwanted[:10]} ({len(unwanted)} in all): see MANIFEST.in")
    print(f"check_dist: {sdist.name}: {len(members)} entries, nothing missing or unwanted")


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = HeaderParser().parsestr(zf.read(metadata_name).decode())
    stray = [n for n in names if not n.startswith(("django_multipool/", "django_multipool-"))]
    if stray:
        fail(f"{wheel.name} ships files outside the package: {stray[:10]}")
    for needed in ("django_multipool/py.typed", "django_multipool/backends/oracle/base.py"):
        if needed not in names:
            fail(f"{wheel.name} lacks {needed}")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        fail(f"{wheel.name} lacks its LICENSE")

    if metadata.get("License-Expression") != "BSD-3-Clause":
        fail(f"License-Expression is {metadata.get('License-Expression')!r}, not BSD-3-Clause")
    classifiers = metadata.get_all("Classifier") or []
    pythons, djangos = nox_matrix()
    declared_py = {
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if c.count(".") == 1 and c.startswith("Programming Language :: Python :: 3.")
    }
    declared_dj = {
        c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith("Framework :: Django :: ")
    }
    if declared_py != pythons:
        fail(
            f"Python classifiers {sorted(declared_py)} are not the nox matrix's {sorted(pythons)}"
        )
    if declared_dj != djangos:
        fail(
            f"Django classifiers {sorted(declared_dj)} are not the nox matrix's {sorted(djangos)}"
        )
    lowest = min(pythons, key=lambda v: tuple(map(int, v.split("."))))
    requires_python = metadata.get("Requires-Python")
    if requires_python != f">={lowest}":
        fail(f"Requires-Python is {requires_python!r}; the matrix starts at {lowest}")
    print(f"check_dist: {wheel.name}: {len(names)} files, metadata matches the nox matrix")


def run(command: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)


def smoke(wheel: Path, work: Path) -> None:
    """Install the wheel alone into a new virtualenv and run the smoke project there."""
    uv = shutil.which("uv")
    if uv is None:
        fail("uv is not on PATH (the package dependency group installs it)")
    venv = work / "venv"
    python = venv / "bin" / "python"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            f"django-multipool[all] @ {wheel.resolve().as_uri()}",
        ],
        check=True,
    )
    project = work / "project"
    shutil.copytree(SMOKE_PROJECT, project)
    # Nothing of the repository or the calling environment on the path.
    base_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")
    }
    base_env["PYTHONDONTWRITEBYTECODE"] = "1"

    where = run(
        [str(python), "-c", "import django_multipool; print(django_multipool.__file__)"],
        env=base_env,
        cwd=project,
    )
    if where.returncode != 0:
        fail(f"import django_multipool failed in the clean virtualenv:\n{where.stderr}")
    location = Path(where.stdout.strip())
    if not location.is_relative_to(venv):
        fail(f"django_multipool was imported from {location}, not from the installed wheel")
    print(f"check_dist: import django_multipool: {location.relative_to(work)}")

    offline = {k: v for k, v in base_env.items() if not k.endswith("_DSN")}
    pool = json.dumps({"max_size": 4, "release": "transaction"})

    def check(vendor: str, *args: str, env: dict[str, str], models: bool) -> None:
        env = {
            **env,
            "MULTIPOOL_SMOKE_VENDOR": vendor,
            "MULTIPOOL_SMOKE_POOL": pool,
            "MULTIPOOL_SMOKE_MODELS": "1" if models else "0",
        }
        command = [str(python), "manage.py", "check", "--fail-level", "WARNING", *args]
        result = run(command, env=env, cwd=project)
        what = " ".join(["manage.py check", *args]) + (" with contrib.auth" if models else "")
        if result.returncode != 0 or "no issues" not in result.stdout:
            fail(f"{what} on {vendor} failed:\n{result.stdout}{result.stderr}")
        print(f"check_dist: {what}, {vendor}: {result.stdout.strip()}")

    # No server: the ENGINE's backend imports with its driver and the pool
    # settings validate. Model field checks need none on PostgreSQL and
    # Oracle; on MySQL (Django 6.1) they ask the server: below, with a DSN.
    for vendor in VENDORS:
        check(vendor, env=offline, models=False)
    for vendor in ("postgresql", "oracle"):
        check(vendor, env=offline, models=True)

    # The checks did run: a misspelt key fails them, with the suggestion.
    env = {
        **offline,
        "MULTIPOOL_SMOKE_VENDOR": "postgresql",
        "MULTIPOOL_SMOKE_POOL": json.dumps({"max_sise": 4}),
    }
    result = run([str(python), "manage.py", "check"], env=env, cwd=project)
    output = result.stdout + result.stderr
    if result.returncode == 0 or "django_multipool.E002" not in output or "max_size" not in output:
        fail(f"manage.py check accepted a misspelt pool key:\n{output}")
    print("check_dist: manage.py check refuses OPTIONS['pool']['max_sise'] (E002)")

    # With a server: every check, the database ones too, and a query through
    # the installed pool.
    required = {v.strip() for v in os.environ.get("MULTIPOOL_REQUIRE", "").split(",") if v.strip()}
    query = {"postgresql": "SELECT 1", "mysql": "SELECT 1", "oracle": "SELECT 1 FROM DUAL"}
    for vendor in VENDORS:
        dsn_env = f"MULTIPOOL_{vendor.upper()}_DSN"
        if not os.environ.get(dsn_env):
            if vendor in required:
                fail(f"MULTIPOOL_REQUIRE names {vendor} but {dsn_env} is not set")
            print(f"check_dist: {vendor} not reached: {dsn_env} is not set")
            continue
        check(vendor, "--database", "default", env=base_env, models=True)
        code = (
            "from django.db import connections\n"
            "import django_multipool\n"
            "with connections['default'].cursor() as cursor:\n"
            f"    cursor.execute({query[vendor]!r})\n"
            "    (value,) = cursor.fetchone()\n"
            "assert value == 1, value\n"
            "assert django_multipool.pool_stats(), 'no pool was opened'\n"
            "print(type(connections['default']).__module__)\n"
        )
        env = {**base_env, "MULTIPOOL_SMOKE_VENDOR": vendor, "MULTIPOOL_SMOKE_POOL": pool}
        result = run([str(python), "manage.py", "shell", "-c", code], env=env, cwd=project)
        if result.returncode != 0:
            fail(f"a query on {vendor} through the installed wheel failed:\n{result.stderr}")
        backend = result.stdout.split()[-1]  # after the shell's own notices
        print(f"check_dist: a query on {vendor} through the installed pool ({backend})")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        fail("usage: check_dist.py DIST_DIR")
    dist = Path(argv[0])
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        fail(f"expected one sdist and one wheel in {dist}, found {sdists + wheels}")
    check_sdist(sdists[0])
    check_wheel(wheels[0])
    with tempfile.TemporaryDirectory(prefix="multipool-dist-") as work:
        smoke(wheels[0], Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
