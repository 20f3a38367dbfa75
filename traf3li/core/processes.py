"""The processes the product starts for itself (a benchmark's gunicorn, a browser test's server, the
load harness's): their environment, and gunicorn on a free port.

``child_env``: the parent's environment, with its SECRET_KEY passed on explicitly.

With ``DEBUG`` off the settings refuse to start without ``SECRET_KEY``; a child run with ``DEBUG``
off by a developer's process gets the same key, so what one signs or encrypts (sessions, channel
secrets) the other reads.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def child_env(**overrides: str) -> dict[str, str]:
    return {**os.environ, "SECRET_KEY": settings.SECRET_KEY, **overrides}


class ServerDidNotStart(RuntimeError):
    pass


@contextmanager
def gunicorn_serving(*, env: dict, log: Path, workers: int = 2, app: str = "traf3li.wsgi", timeout: float = 60):
    """gunicorn on a free loopback port, in its own process group; yields the port once ``/healthz``
    answers 200, and stops it on exit (SIGTERM, then SIGKILL after 30 s).

    The listening socket is ours, handed to gunicorn (``fd://``): a free port with no race for it,
    and a backlog that keeps a burst of clients waiting rather than refused.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    log.parent.mkdir(parents=True, exist_ok=True)
    process = None
    try:
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", app, "--bind", f"fd://{sock.fileno()}", "--workers", str(workers),
                 "--timeout", "60", "--access-logfile", "-"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=[sock.fileno()],
                start_new_session=True,  # its own process group: stopped with its workers, never ours
            )  # fmt: skip
        sock.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
                raise ServerDidNotStart(f"gunicorn did not start (exit {process.poll()}):\n{tail}")
            time.sleep(0.2)
        yield port
    finally:
        sock.close()
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
