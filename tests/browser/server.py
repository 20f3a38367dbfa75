"""The product as a user runs it: collectstatic, then gunicorn with DEBUG off, on a free port.

Used by the browser tests' ``product_server`` fixture (tests/browser/conftest.py) and by
``scripts/screenshots.py``; it imports nothing from Django, so a script can use it unconfigured.
"""

import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from traf3li.core.processes import child_env, gunicorn_serving

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

    gunicorn runs in its own process group, stopped (SIGTERM, then SIGKILL after 30 s) on exit
    (``traf3li.core.processes.gunicorn_serving``).
    """
    static_root = Path(tempfile.mkdtemp(prefix="traf3li-static-"))
    env = product_env(
        database_url=database_url,
        redis_url=redis_url,
        base_domain=base_domain,
        static_root=static_root,
        database_owner_url=database_owner_url,
    )
    try:
        # The same collectstatic the demo and docker-compose run, with the same (production) storage.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=300,
        )
        with gunicorn_serving(env=env, log=log, workers=2, timeout=timeout) as port:
            yield ProductServer(port=port, log=log)
    finally:
        shutil.rmtree(static_root, ignore_errors=True)
