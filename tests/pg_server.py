"""A throwaway PostgreSQL server for the Postgres store's tests: Debian's binaries, a data
folder in a temporary directory, a free loopback port, a generated password.

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user that
Debian's package creates (or ``nobody``), through ``runuser``.  Outside CI, a machine without
the binaries skips the tests that need the server, saying why; in CI (``CI=true``) that is a
failure: ``.ci/run`` installs the ``postgresql`` package first.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

MISSING = ("no PostgreSQL server binaries (initdb, pg_ctl) on this machine: install Debian's "
           "postgresql package (apt-get install -y postgresql) to run the Postgres store tests")


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: on PATH, or Debian's versioned folder."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda path: int(Path(path).parent.name), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_user() -> str | None:
    """Who runs the server: this user, or when root an unprivileged one."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run "
                       "the PostgreSQL server as")


@dataclass
class PostgresServer:
    """A running server; :meth:`create_database` gives each test its own database."""

    folder: Path
    binaries: Path
    port: int
    password: str
    user: str = "crm"
    runner: str | None = None
    databases: list[str] = field(default_factory=list)

    def _command(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.runner, "--", *argv] if self.runner else list(argv)

    @classmethod
    def start(cls, binaries: Path) -> PostgresServer:
        folder = Path(tempfile.mkdtemp(prefix="crm-connect-pg-"))
        server = cls(folder, binaries, _free_port(), secrets.token_urlsafe(16),
                     runner=_server_user())
        folder.chmod(0o755)
        password_file = folder / "password"
        password_file.write_text(server.password)
        if server.runner:
            account = pwd.getpwnam(server.runner)
            os.chown(folder, account.pw_uid, account.pw_gid)
            os.chown(password_file, account.pw_uid, account.pw_gid)
        data = folder / "data"
        subprocess.run(server._command(
            str(binaries / "initdb"), "-D", str(data), "-U", server.user, "--auth-local=trust",
            "--auth-host=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8",
            "--no-locale"), check=True, capture_output=True, cwd=folder)
        options = (f"-c listen_addresses=127.0.0.1 -c port={server.port} "
                   f"-c unix_socket_directories={folder} -c fsync=off "
                   "-c max_connections=50")
        subprocess.run(server._command(
            str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
            "-o", options, "-w", "-t", "60", "start"), check=True, capture_output=True,
            cwd=folder)
        return server

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.user,
                               password=self.password, dbname="postgres", autocommit=True)

    def create_database(self, name: str) -> str:
        """A new empty database; its store url (the password is not in it)."""
        with self.admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        subprocess.run(self._command(str(self.binaries / "pg_ctl"), "-D",
                                     str(self.folder / "data"), "-m", "immediate", "stop"),
                       capture_output=True, cwd=self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)
