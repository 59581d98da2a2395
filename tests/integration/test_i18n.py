"""English and Welsh: the catalogues compile, every text of every template and product module has
its Welsh (the same placeholders), and the staff upload screens, sign-in and layout are in Welsh
when the user asks for it."""

import os
import re

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from gatekeeper.translations import (
    HERE,
    compile_catalogues,
    read_catalogue,
    stale_catalogues,
    translated,
)
from tests.conftest import ROOT, _app

METHOD_MAP = [("gatekeeper/**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]")


def extracted() -> dict[str, str]:
    """Every msgid of the product, as babel.cfg extracts it (every template, every module of
    gatekeeper/ and consent/), with the file and line that first uses it."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, str] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map):
        found.setdefault(message if isinstance(message, str) else message[0], f"{filename}:{line}")
    return found


def welsh_catalogue():
    return read_catalogue(HERE / "cy" / "LC_MESSAGES" / "messages.po")


def test_catalogues_compile_and_are_fresh(app):
    compile_catalogues()
    assert stale_catalogues() == []
    assert (HERE / "cy" / "LC_MESSAGES" / "messages.mo").exists()


def test_starting_the_app_never_compiles_the_catalogues(caplog, tmp_path):
    """The .mo files are built at install time; a stale one is reported, not rewritten."""
    welsh = HERE / "cy" / "LC_MESSAGES" / "messages.po"
    compiled = welsh.with_suffix(".mo")
    before, source = compiled.stat(), welsh.stat()
    os.utime(welsh, ns=(source.st_atime_ns, before.st_mtime_ns + 10**9))  # edited after compiling
    try:
        _app(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    finally:
        os.utime(welsh, ns=(source.st_atime_ns, source.st_mtime_ns))
    assert compiled.stat().st_mtime_ns == before.st_mtime_ns
    assert "make catalogues" in caplog.text and str(welsh) in caplog.text


def test_every_template_and_module_text_has_a_welsh_translation():
    found = extracted()
    folders = {where.split("/")[0] for where in found.values()}
    assert folders == {"templates", "gatekeeper", "consent"} and len(found) > 800
    welsh = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in welsh_catalogue()}
    untranslated = sorted(f"{where}: {msgid}" for msgid, where in found.items()
                          if not translated(welsh.get(msgid, "")))
    assert untranslated == []


def test_every_welsh_translation_keeps_the_placeholders_of_its_english():
    """A placeholder lost, added or misspelt would fail the page that says the message."""
    wrong = []
    for message in welsh_catalogue():
        if not message.id or not translated(message.string):
            continue
        plural = not isinstance(message.id, str)
        english = set(PLACEHOLDER.findall(message.id[1] if plural else message.id))
        for form in message.string if plural else [message.string]:
            welsh = set(PLACEHOLDER.findall(form))
            if welsh - english or (not plural and welsh != english):  # one form may omit %(n)d
                wrong.append(f"{message.id} -> {form}")
    assert wrong == []


def test_sign_in_page_in_welsh_by_browser_language(app, school):
    page = app.test_client().get("/auth/login", headers={"Accept-Language": "cy"})
    html = page.get_data(as_text=True)
    assert '<html lang="cy">' in html and "Mewngofnodi" in html and "Cyfrinair" in html


def test_upload_page_in_welsh_after_choosing_it(app, login_as):
    staff = login_as("staff")
    staff.post("/auth/language/cy", {"next": "/uploads/"})
    html = staff.get("/uploads/").get_data(as_text=True)
    for welsh in ("Llwytho lluniau i fyny", "Dewiswch y digwyddiad", "Cynnydd y swp", "Allgofnodi",
                  "Gwefan yr ysgol"):
        assert welsh in html
    assert "Choose the event" not in html
    staff.post("/auth/language/en", {"next": "/uploads/"})
    assert "Choose the event" in staff.get("/uploads/").get_data(as_text=True)
