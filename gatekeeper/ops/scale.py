"""`make run-scale`: the production topology on one machine — gunicorn for the web, N Huey consumer
processes, PostgreSQL and Redis through DATABASE_URL/REDIS_URL, one shared storage path.

Creates the PostgreSQL database if it is missing, migrates it, seeds the demo school, then runs
until Ctrl-C and stops every process it started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gatekeeper.ops.supervise import Child, supervise

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
    children = [Child([gatekeeper, "worker", "--workers", args.workers_per_consumer])
                for _ in range(args.consumers)]
    children.append(Child(
        [os.path.join(bin_dir, "gunicorn"), "--bind", f"{args.host}:{args.port}", "--workers",
         args.web_workers, "--threads", "4", "--timeout", "120", "--access-logfile", "-",
         "--logger-class", "gatekeeper.web.security.RedactingLogger", "wsgi:app"]))
    return supervise(children, grace_s=STOP_GRACE_S, env=env, banner=(
        f"Gatekeeper (scale) on http://{args.host}:{args.port}: {args.consumers} consumers, "
        f"PostgreSQL and Redis (Ctrl-C stops all)"))

if __name__ == "__main__":
    sys.exit(main())
