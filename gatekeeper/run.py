"""`make run`: the web app and a background worker together on one machine; Ctrl-C stops both."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

STOP_GRACE_S = 10


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    parser.add_argument("--workers", default="2")
    args = parser.parse_args()
    bin_dir = os.path.dirname(sys.executable)
    children = [
        subprocess.Popen([os.path.join(bin_dir, "gatekeeper"), "worker", "--workers", args.workers]),
        subprocess.Popen([
            os.path.join(bin_dir, "gunicorn"), "--bind", f"{args.host}:{args.port}",
            "--workers", "2", "--threads", "4", "--timeout", "120",
            "--access-logfile", "-", "--logger-class", "gatekeeper.security.RedactingLogger",
            "wsgi:app",
        ]),
    ]
    print(f"Gatekeeper is running on http://{args.host}:{args.port}  (Ctrl-C stops web and worker)",
          flush=True)
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
            child.send_signal(signal.SIGINT if child is children[0] else signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    print("stopped", flush=True)
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
