"""One supervisor for `make run` and `make run-scale`: start the children, wait, stop them all.

Each child runs in a process group of its own, so that Ctrl-C in the terminal reaches only the
supervisor, which then stops every child in order: its own stop signal first (a Huey consumer
finishes the task in hand on SIGINT), SIGKILL to the whole group after the grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

POLL_S = 0.5


@dataclass
class Child:
    """A command to run, and the signal that asks it to stop cleanly."""

    argv: Sequence[str]
    stop_signal: int = signal.SIGTERM


def supervise(children: Sequence[Child], *, grace_s: float, env: dict | None = None,
              banner: str = "") -> int:
    """Run until SIGINT/SIGTERM (exit 0) or until a child dies by itself (exit 1)."""
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    running = [(c, subprocess.Popen(list(c.argv), env=env, start_new_session=True))
               for c in children]
    if banner:
        print(banner, flush=True)
    while not stopping and all(p.poll() is None for _c, p in running):
        time.sleep(POLL_S)
    stop_all(running, grace_s)
    print("stopped", flush=True)
    return 0 if stopping else 1


def stop_all(running, grace_s: float) -> None:
    for child, process in running:
        if process.poll() is None:
            _signal_group(process, child.stop_signal)
    deadline = time.monotonic() + grace_s
    for _child, process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:  # already gone
        pass
