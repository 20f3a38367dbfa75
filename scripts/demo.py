"""Migrate, seed the demo firms, collect the static files, then run web, worker and beat until stopped.

    python scripts/demo.py [--no-setup]

Ctrl-C, SIGTERM or SIGHUP stops all three (each in its own process group, through
``services.stop``), and only then does this process exit. ``--no-setup`` skips the migrations, seeding
and collectstatic, for a quick restart.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/services.py, run as a script or imported
from services import STATE, Stop, on_stop_signals, spawn, stop  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = os.environ.get("PORT", "8000")
# The demo's accounts are not real: messages sent from the demo are logged by the worker, not sent.
os.environ.setdefault("MESSAGING_OUTBOUND", "console")
PLATFORM_ADMIN = ("platform", "demo-platform-2026")


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def commands() -> dict[str, list[str]]:
    STATE.mkdir(parents=True, exist_ok=True)
    schedule = str(STATE / "celerybeat-schedule")  # beat's last runs, beside the embedded servers' data
    return {
        "web": [PY, "-m", "gunicorn", "traf3li.wsgi", "-b", f"0.0.0.0:{PORT}", "-w", "2", "--access-logfile", "-"],
        "worker": [PY, "-m", "celery", "-A", "traf3li", "worker", "-l", "info", "-c", "2"],
        "beat": [PY, "-m", "celery", "-A", "traf3li", "beat", "-l", "info", "-s", schedule],
    }


def product_env() -> dict[str, str]:
    """The processes connect as the product's own role; the setup above ran as the owner (ADR 0062)."""
    env = dict(os.environ)
    app_url = env.get("DATABASE_APP_URL")
    if app_url and not env.get("DATABASE_OWNER_URL"):
        env["DATABASE_OWNER_URL"] = env["DATABASE_URL"]  # firm creation from the platform admin
        env["DATABASE_URL"] = app_url
    return env


def supervise(named: dict[str, list[str]], banner: str = "") -> int:
    """Run each command until one dies or a stop signal arrives, then stop them all."""
    on_stop_signals()
    procs: list[subprocess.Popen] = []
    signum = None
    try:
        env = product_env()
        for command in named.values():
            procs.append(spawn(command, cwd=ROOT, env=env))
        if banner:
            print(banner, flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = [name for name, p in zip(named, procs, strict=False) if p.poll() is not None]
        print(f"{', '.join(dead)} stopped; stopping the rest.", flush=True)
    except Stop as received:
        signum = received.signum
        print(f"\n{received} received: stopping {', '.join(named)}.", flush=True)
    finally:
        stop(procs)
    return 0 if signum is None else 128 + signum


def banner() -> str:
    base = os.environ.get("BASE_DOMAIN", "localhost")
    user, password = PLATFORM_ADMIN
    return f"""
Traf3li Timeline is running (PORT={PORT}).
  API, firm acme:   http://acme.{base}:{PORT}/api/v1/   (also nour.{base})
                    curl -H 'Host: acme.{base}' -H 'Authorization: Token acme-demo-token-000000000000000000000000' \\
                         127.0.0.1:{PORT}/api/v1/clients/
  Firm admin:       http://acme.{base}:{PORT}/admin/    http://nour.{base}:{PORT}/admin/
                    admin / demo-admin-2026, lawyer / demo-lawyer-2026, staff / demo-staff-2026 (both firms)
  API docs:         http://{base}:{PORT}/api/docs/       (OpenAPI: http://{base}:{PORT}/api/schema/)
  Platform admin:   http://{base}:{PORT}/admin/          {user} / {password}  (firms and domains)
  Health:           http://127.0.0.1:{PORT}/healthz
Ctrl-C stops everything.
"""


def main(argv: list[str]) -> int:
    on_stop_signals()
    (ROOT / ".run").mkdir(exist_ok=True)
    try:
        if "--no-setup" not in argv:
            manage("migrate_schemas", "--verbosity", "0")
            manage("seed_demo")
            manage("create_platform_admin", PLATFORM_ADMIN[0], "--password", PLATFORM_ADMIN[1])
            # WhiteNoise serves STATIC_ROOT under gunicorn: without this the admin is unstyled.
            manage("collectstatic", "--noinput", "--verbosity", "0")
    except Stop as received:
        return 128 + received.signum
    return supervise(commands(), banner())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
