"""Ctrl-C stops everything `make run` and `make run-scale` started: web, workers and their
children, within the grace period, leaving no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of() -> dict[int, list[int]]:
    """Parent pid -> child pids, read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    return parents


def descendants(pid: int) -> set[int]:
    """Every process below `pid`."""
    parents = children_of()
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until_serving(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login", timeout=5) as page:
                if page.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"not serving on {port} after {START_TIMEOUT_S} s")


def ctrl_c_stops_everything(argv: list[str], env: dict, port: int, expect_workers: int) -> str:
    with subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as process:
        try:
            wait_until_serving(process, port)
            started = descendants(process.pid)
            direct = [Path(f"/proc/{pid}/cmdline").read_bytes()
                      for pid in children_of().get(process.pid, [])]
            assert sum(b"\0worker\0" in c for c in direct) == expect_workers, direct
            assert sum(b"gunicorn" in c for c in direct) == 1, direct
            process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
            output, _ = process.communicate(timeout=STOP_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, output
    assert "stopped" in output
    left = [pid for pid in started if alive(pid)]
    assert left == [], f"still running after Ctrl-C: {left}"
    return output


def test_make_run_stops_web_and_worker_on_ctrl_c(tmp_path):
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    gatekeeper = str(Path(sys.executable).with_name("gatekeeper"))
    subprocess.run([gatekeeper, "init"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    output = ctrl_c_stops_everything(
        [sys.executable, "-m", "gatekeeper.ops.run", "--port", str(port), "--workers", "1"],
        env, port, expect_workers=1)
    assert f"http://127.0.0.1:{port}" in output


def postgres_and_redis() -> bool:
    from tests.support.reachable import main as reachable

    if reachable(PG_ADMIN, "redis://127.0.0.1:6379/13") == 0:
        return True
    if os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL and Redis are required under CI")
    pytest.skip("PostgreSQL and Redis are not reachable here")


def test_make_run_scale_stops_every_consumer_and_the_web_on_ctrl_c(tmp_path):
    postgres_and_redis()
    name = "gk_scale_" + uuid.uuid4().hex[:10]
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(tmp_path / "instance"),
           "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
           "REDIS_URL": "redis://127.0.0.1:6379/13"}
    port = free_port()
    try:
        ctrl_c_stops_everything(
            [sys.executable, "-m", "gatekeeper.ops.scale", "--port", str(port),
             "--consumers", "2", "--web-workers", "1"], env, port, expect_workers=2)
    finally:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
