"""The product as a user runs it: collectstatic, then gunicorn with DEBUG off, on a free port.

Used by the browser tests' ``product_server`` fixture (tests/browser/conftest.py) and by
``scripts/screenshots.py``; it imports nothing from Django, so a script can use it unconfigured.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from traf3li.core.processes import child_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
START_TIMEOUT = 60  # seconds for gunicorn to answer /healthz


class ServerDidNotStart(RuntimeError):
    pass


@dataclass
class ProductServer:
    port: int
    log: Path

    def url(self, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def product_env(
    *, database_url: str, redis_url: str, base_domain: str, static_root: Path, database_owner_url: str = ""
) -> dict:
    env = {
        **child_env(),
        "DJANGO_SETTINGS_MODULE": "traf3li.settings",
        "DEBUG": "false",  # hashed, compressed static files (CompressedManifestStaticFilesStorage), no debug pages
        "STATIC_ROOT": str(static_root),
        "DATABASE_URL": database_url,
        "DATABASE_OWNER_URL": database_owner_url,
        "REDIS_URL": redis_url,
        "BASE_DOMAIN": base_domain,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("ALLOWED_HOSTS", None)
    return env


@contextmanager
def run_product(
    *,
    database_url: str,
    redis_url: str,
    base_domain: str,
    log: Path,
    timeout: float = START_TIMEOUT,
    database_owner_url: str = "",
):
    """Collect the static files into a temporary STATIC_ROOT, start gunicorn, yield a ``ProductServer``.

    gunicorn runs in its own process group, stopped (SIGTERM, then SIGKILL after 30 s) on exit.
    """
    static_root = Path(tempfile.mkdtemp(prefix="traf3li-static-"))
    env = product_env(
        database_url=database_url,
        redis_url=redis_url,
        base_domain=base_domain,
        static_root=static_root,
        database_owner_url=database_owner_url,
    )
    process = None
    try:
        # The same collectstatic the demo and docker-compose run, with the same (production) storage.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=300,
        )
        # The listening socket is ours, handed to gunicorn (fd://): a free port with no race for it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        server = ProductServer(port=port, log=log)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "traf3li.wsgi",
                    "--bind",
                    f"fd://{sock.fileno()}",
                    "--workers",
                    "2",
                    "--timeout",
                    "60",
                    "--access-logfile",
                    "-",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=[sock.fileno()],
                start_new_session=True,  # its own process group: stopped with its workers, never ours
            )
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
                raise ServerDidNotStart(f"gunicorn did not start (exit {process.poll()}):\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(static_root, ignore_errors=True)
