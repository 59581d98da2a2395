"""`make run-scale`: the production topology on one machine — gunicorn for the web, N Huey consumer
processes, PostgreSQL and Redis through DATABASE_URL/REDIS_URL, one shared storage path.

Creates the PostgreSQL database if it is missing, migrates it, seeds the demo school, then runs
until Ctrl-C and stops every process it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

STOP_GRACE_S = 15
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gatekeeper_scale"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"  # 15 is the test suite's


def ensure_database(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": target.database}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    parser.add_argument("--web-workers", default="2")
    parser.add_argument("--consumers", type=int, default=2, help="Huey consumer processes")
    parser.add_argument("--workers-per-consumer", default="1")
    args = parser.parse_args()
    env = {**os.environ,
           "DATABASE_URL": os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
           "REDIS_URL": os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL}
    ensure_database(env["DATABASE_URL"])
    bin_dir = os.path.dirname(sys.executable)
    gatekeeper = os.path.join(bin_dir, "gatekeeper")
    subprocess.run([gatekeeper, "init", "--demo"], env=env, check=True)
    children = [subprocess.Popen([gatekeeper, "worker", "--workers", args.workers_per_consumer],
                                 env=env, start_new_session=True) for _ in range(args.consumers)]
    children.append(subprocess.Popen(
        [os.path.join(bin_dir, "gunicorn"), "--bind", f"{args.host}:{args.port}", "--workers",
         args.web_workers, "--threads", "4", "--timeout", "120", "--access-logfile", "-",
         "--logger-class", "gatekeeper.security.RedactingLogger",
         "wsgi:app"], env=env, start_new_session=True))
    print(f"Gatekeeper (scale) on http://{args.host}:{args.port}: {args.consumers} consumers, "
          f"PostgreSQL and Redis (Ctrl-C stops all)", flush=True)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
