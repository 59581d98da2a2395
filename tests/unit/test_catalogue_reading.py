"""Each piece of work appends its Welsh at the end of the catalogue, also for a msgid already there
with an empty msgstr: the later translated copy is the one compiled, for plural entries too."""

import gettext

from gatekeeper.translations import compile_catalogues, read_catalogue

HEADER = """msgid ""
msgstr ""
"Language: cy\\n"
"Plural-Forms: nplurals=5; plural=(n==1 ? 1 : n==2 ? 2 : n==3 ? 3 : n==6 ? 4 : 0);\\n"
"Content-Type: text/plain; charset=utf-8\\n"
"""
ENTRIES = """
msgid "Save"
msgstr ""

msgid "Cancel"
msgstr "Canslo"

msgid "%(n)d photo"
msgid_plural "%(n)d photos"
msgstr[0] ""
msgstr[1] ""
msgstr[2] ""
msgstr[3] ""
msgstr[4] ""

# --- a later block ---
msgid "Save"
msgstr "Cadw"

msgid "Cancel"
msgstr ""

msgid "%(n)d photo"
msgid_plural "%(n)d photos"
msgstr[0] "%(n)d llun"
msgstr[1] "%(n)d llun"
msgstr[2] "%(n)d lun"
msgstr[3] "%(n)d llun"
msgstr[4] "%(n)d llun"
"""


def write_catalogue(tmp_path):
    po = tmp_path / "cy" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(HEADER + ENTRIES, encoding="utf-8")
    return po


def test_a_later_translated_copy_wins_and_an_empty_copy_never_erases(tmp_path):
    catalogue = read_catalogue(write_catalogue(tmp_path))
    assert catalogue.get("Save").string == "Cadw"
    assert catalogue.get("Cancel").string == "Canslo"
    assert catalogue.get("%(n)d photo").string[2] == "%(n)d lun"


def test_the_compiled_catalogue_holds_the_appended_translations(tmp_path):
    po = write_catalogue(tmp_path)
    assert compile_catalogues(tmp_path) == [po]
    with po.with_suffix(".mo").open("rb") as compiled:
        welsh = gettext.GNUTranslations(compiled)
    assert welsh.gettext("Save") == "Cadw" and welsh.gettext("Cancel") == "Canslo"
    assert welsh.ngettext("%(n)d photo", "%(n)d photos", 2) == "%(n)d lun"
    assert po.with_suffix(".mo").stat().st_mode & 0o777 == 0o644
