"""Flask-Babel catalogues (English, Welsh). Only the .po sources are kept in git: `make install`
compiles each to .mo (and the test session does, for a .mo missing or older than its source);
the app itself only checks that they are fresh."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

HERE = Path(__file__).resolve().parent


def stale_catalogues(root: Path = HERE) -> list[Path]:
    return [po for po in sorted(root.glob("*/LC_MESSAGES/messages.po"))
            if not po.with_suffix(".mo").exists()
            or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime]


def compile_catalogues(root: Path = HERE) -> list[Path]:
    """Compile every stale .po beside itself (atomically: a second process may be starting too)."""

    done = []
    for po in stale_catalogues(root):
        with po.open("rb") as source:
            catalog = read_po(source)
        fd, tmp = tempfile.mkstemp(dir=po.parent, prefix=".mo-")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog)
            os.replace(tmp, po.with_suffix(".mo"))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        done.append(po)
    return done
