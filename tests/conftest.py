"""Shared fixtures. App and database fixtures live in tests/integration/conftest.py."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACES_DIR = ROOT.parent / "shared" / "data" / "faces"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The shared folder of real face photos; skipped visibly when absent, a failure under CI."""
    if not FACES_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"face fixtures missing at {FACES_DIR} (required under CI)")
        pytest.skip(f"face fixtures not found at {FACES_DIR}")
    return FACES_DIR
