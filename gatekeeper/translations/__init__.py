"""Flask-Babel catalogues (English, Welsh). Only the .po sources are kept in git: `make install`
compiles each to .mo (and the test session does, for a .mo missing or older than its source);
the app itself only checks that they are fresh."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileParser

HERE = Path(__file__).resolve().parent
CATALOGUE_MODE = 0o644  # readable by the app's user when another user installed it (mkstemp: 0600)


def translated(string: str | tuple | list) -> bool:
    """True when a msgstr (or every plural form of it) has been filled in."""
    return all(string) if isinstance(string, tuple | list) else bool(string)


class AppendedCatalogue(Catalog):
    """A catalogue in which a later translated copy of a msgid replaces the earlier entry's text.

    Each piece of work appends its translations in a block at the end of the .po, also for a msgid
    that is already there with an empty msgstr, so a msgid may appear twice until the file is
    tidied; Babel's own reader keeps the first copy, which would hide the translation."""

    def __setitem__(self, id, message: Message) -> None:
        current = self.get(id, message.context) if id else None
        super().__setitem__(id, message)
        if current is not None and translated(message.string):
            current.string = message.string


def read_catalogue(po: Path) -> Catalog:
    """A .po file as a catalogue, each msgid with its last translation."""
    catalogue = AppendedCatalogue()
    with po.open("rb") as source:
        PoFileParser(catalogue).parse(source)
    return catalogue


def stale_catalogues(root: Path = HERE) -> list[Path]:
    return [po for po in sorted(root.glob("*/LC_MESSAGES/messages.po"))
            if not po.with_suffix(".mo").exists()
            or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime]


def compile_catalogues(root: Path = HERE) -> list[Path]:
    """Compile every stale .po beside itself (atomically: a second process may be starting too)."""

    done = []
    for po in stale_catalogues(root):
        catalog = read_catalogue(po)
        fd, tmp = tempfile.mkstemp(dir=po.parent, prefix=".mo-")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog)
            os.chmod(tmp, CATALOGUE_MODE)
            os.replace(tmp, po.with_suffix(".mo"))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        done.append(po)
    return done
