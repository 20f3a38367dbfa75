"""Migrate, seed the demo firms, then run web, worker and beat until Ctrl-C."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = os.environ.get("PORT", "8000")


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def main() -> int:
    (ROOT / ".run").mkdir(exist_ok=True)
    manage("migrate_schemas", "--verbosity", "0")
    manage("seed_demo")
    base = os.environ.get("BASE_DOMAIN", "localhost")
    procs = [
        subprocess.Popen(
            [PY, "-m", "gunicorn", "traf3li.wsgi", "-b", f"0.0.0.0:{PORT}", "-w", "2", "--access-logfile", "-"],
            cwd=ROOT,
        ),
        subprocess.Popen([PY, "-m", "celery", "-A", "traf3li", "worker", "-l", "info", "-c", "2"], cwd=ROOT),
        subprocess.Popen(
            [
                PY,
                "-m",
                "celery",
                "-A",
                "traf3li",
                "beat",
                "-l",
                "info",
                "-s",
                str(ROOT / ".run" / "celerybeat-schedule"),
            ],
            cwd=ROOT,
        ),
    ]
    print(
        f"""
Traf3li Timeline is running.
  API (firm acme):  http://acme.{base}:{PORT}/api/v1/   (curl -H 'Host: acme.{base}' 127.0.0.1:{PORT}/api/v1/clients/)
  Firm admin:       http://acme.{base}:{PORT}/admin/    (also nour.{base})
  API docs:         http://{base}:{PORT}/api/docs/
  Health:           http://{base}:{PORT}/healthz
  Demo logins (both firms): admin / demo-admin-2026, lawyer / demo-lawyer-2026, staff / demo-staff-2026
  Demo token (acme admin):  see the seed_demo output above
Ctrl-C stops everything.
""",
        flush=True,
    )
    names = ["web", "worker", "beat"]
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        dead = [name for name, p in zip(names, procs, strict=True) if p.poll() is not None]
        print(f"{', '.join(dead)} stopped; stopping the rest.", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
