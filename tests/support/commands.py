"""What a refused `gatekeeper` command must show, run as a process or in the test's own."""

from __future__ import annotations

import signal
import subprocess

STOP_WAIT_S = 20  # how long a stopped worker may take to finish its task before it is killed


def one_error_line(result) -> str:
    """The one line a refused command printed on stderr, run as a process or in this one (where
    an exception the command did not turn into its one line is the runner's, not a SystemExit)."""
    if isinstance(result, subprocess.CompletedProcess):
        assert result.returncode != 0
    else:
        assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def stop_process(process: subprocess.Popen, wait: float = STOP_WAIT_S) -> None:
    """Stop a `gatekeeper worker` started by a test as Ctrl-C would, killing it if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
