"""What a refused `gatekeeper` command must show, run as a process or in the test's own."""

from __future__ import annotations

import subprocess


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
