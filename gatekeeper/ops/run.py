"""`make run`: the web app and a background worker together on one machine; Ctrl-C stops both."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from gatekeeper.ops.supervise import Child, supervise

STOP_GRACE_S = 10


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    parser.add_argument("--workers", default="2")
    args = parser.parse_args()
    bin_dir = os.path.dirname(sys.executable)
    children = [
        # SIGINT: the consumer finishes the task in hand, then stops.
        Child([os.path.join(bin_dir, "gatekeeper"), "worker", "--workers", args.workers],
              signal.SIGINT),
        Child([os.path.join(bin_dir, "gunicorn"), "--bind", f"{args.host}:{args.port}",
               "--workers", "2", "--threads", "4", "--timeout", "120",
               "--access-logfile", "-",
               "--logger-class", "gatekeeper.web.security.RedactingLogger", "wsgi:app"]),
    ]
    return supervise(children, grace_s=STOP_GRACE_S, banner=(
        f"Gatekeeper is running on http://{args.host}:{args.port}  (Ctrl-C stops web and worker)"))


if __name__ == "__main__":
    sys.exit(main())
