"""English and Welsh: the catalogues compile, and the staff upload screens, sign-in and layout
are in Welsh when the user asks for it."""

import os

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from gatekeeper.translations import HERE, compile_catalogues, stale_catalogues
from tests.conftest import ROOT, _app

WELSH_SCOPE = ("templates/uploads/", "templates/auth/", "templates/base.html",
               "gatekeeper/uploads/", "gatekeeper/auth/")
METHOD_MAP = [("gatekeeper/**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}


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


def test_every_upload_sign_in_and_layout_text_has_a_welsh_translation():
    with (HERE / "cy" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        welsh = {m.id: m.string for m in read_po(po) if m.id}
    in_scope = {
        message for filename, _line, message, _comments, _context
        in extract_from_dir(str(ROOT), METHOD_MAP, keywords=KEYWORDS)
        if filename.startswith(WELSH_SCOPE)
    }
    assert len(in_scope) > 40
    untranslated = sorted(m for m in in_scope if not welsh.get(m))
    assert untranslated == []


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
