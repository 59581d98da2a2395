"""Hostile CSV files for the MIS and contacts imports, without a database: a field too large for
the csv module, UTF-8 mixed with Windows-1252, control characters in cells and UTF-16 files are
each one clear refusal (of the file, or of the row), never a traceback or a garbled name."""

from __future__ import annotations

import codecs
import datetime as dt

import pytest

from consent import contacts
from consent.importer import ImportRefused, decode, read_export
from consent.rules import DEFAULT_PURPOSES

TODAY = dt.date(2026, 11, 23)
UPNS = ("B801200005001", "A823202400009", "L823202400010")  # valid UPNs (DfE check letters)
HEADER = "upn,first_name,last_name,date_of_birth,year_group"
CONTACTS_HEADER = "UPN,Contact Forename,Contact Surname,Relationship,Primary Email"
HUGE = "A" * 140_000  # over the csv module's field limit (131,072)


def pupils_file(*names: str) -> str:
    """A valid export, a row per first name."""
    rows = (f"{UPNS[i]},{name},Lee,2016-09-01,5" for i, name in enumerate(names))
    return "\r\n".join((HEADER, *rows)) + "\r\n"


def contacts_file(*names: str) -> str:
    rows = (f"{UPNS[i]},{name},Lee,Mother,m{i}@example.test" for i, name in enumerate(names))
    return "\r\n".join((CONTACTS_HEADER, *rows)) + "\r\n"


def read_pupils(data: bytes):
    return read_export(data, DEFAULT_PURPOSES, TODAY)


READERS = {"pupils": (pupils_file, read_pupils), "contacts": (contacts_file,
                                                                contacts.read_contacts)}


def refusal(read, data: bytes) -> str:
    with pytest.raises(ImportRefused) as refused:
        read(data)
    text = str(refused.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("kind", READERS)
def test_a_field_over_the_csv_limit_is_refused_naming_its_row(kind):
    make, read = READERS[kind]
    data = make("Ava", HUGE, "Cai").encode()
    assert refusal(read, data) == (
        "row 3 has a field longer than 131072 characters (a quote that is never closed?)")


@pytest.mark.parametrize("kind", READERS)
def test_a_quote_never_closed_swallowing_the_rest_of_the_file_is_refused(kind):
    make, read = READERS[kind]
    data = make("Ava", '"Ben', "Cai") + "\r\n".join([f"{UPNS[2]},x,y"] * 9000)
    assert refusal(read, data.encode()).startswith("row 3 has a field longer than")


@pytest.mark.parametrize("kind", READERS)
def test_utf8_with_one_windows_1252_byte_is_refused_naming_its_row(kind):
    make, read = READERS[kind]
    data = make("Zoë", "Ben", "Cai").encode().replace(b"Ben", b"B\xe9n")
    assert refusal(read, data) == "not valid UTF-8 at row 3: export the file as UTF-8"


def test_a_byte_order_mark_then_a_windows_1252_byte_is_refused():
    data = codecs.BOM_UTF8 + pupils_file("Ava", "B\xe9n").encode("cp1252")
    assert refusal(read_pupils, data) == "not valid UTF-8 at row 3: export the file as UTF-8"


def test_the_row_counts_lone_carriage_returns_and_the_header():
    assert refusal(decode, b"upn\rZo\xc3\xab\r\xe9") == (
        "not valid UTF-8 at row 3: export the file as UTF-8")
    assert refusal(decode, b"up\xe9n,Zo\xc3\xab\n") == (
        "not valid UTF-8 at row 1: export the file as UTF-8")


@pytest.mark.parametrize("kind", READERS)
@pytest.mark.parametrize("bad, code", [
    ("A\x00va", "U+0000"), ("A\x1b[2Jva", "U+001B"), ("A\x7fva", "U+007F"),
    ("A\x85va", "U+0085"), ("A\x0bva", "U+000B"),
])
def test_a_control_character_in_a_cell_refuses_that_row(kind, bad, code):
    make, read = READERS[kind]
    parsed = read(make("Zo\te", bad, "Cai").encode())
    assert [error.row for error in parsed.errors] == [3]
    column = "first_name" if kind == "pupils" else "Contact Forename"
    assert str(parsed.errors[0]) == f"row 3: {column} contains a control character ({code})"
    assert all("\x00" not in str(error) for error in parsed.errors)
    first = parsed.rows[0]
    assert (first.first_name if kind == "pupils" else first.name).startswith("Zo e")  # a tab


@pytest.mark.parametrize("kind", READERS)
@pytest.mark.parametrize("byte", [0x81, 0x8D, 0x8F, 0x90, 0x9D])
def test_a_byte_windows_1252_leaves_undefined_refuses_that_row(kind, byte):
    # Read as Windows-1252 (no UTF-8 in the file), such a byte became U+FFFD in a stored name.
    make, read = READERS[kind]
    data = make("Zoë", "Sián", "Cai").encode("cp1252").replace(b"\xe1", bytes([byte]))
    parsed = read(data)
    column = "first_name" if kind == "pupils" else "Contact Forename"
    assert [str(error) for error in parsed.errors] == [
        f"row 3: {column} contains a byte that is no character in UTF-8 or Windows-1252: check "
        "the spelling in the MIS and export again"]
    names = [row.first_name if kind == "pupils" else row.name for row in parsed.rows]
    assert names[0].startswith("Zoë") and not any("\ufffd" in name for name in names)


@pytest.mark.parametrize("kind", READERS)
def test_a_control_character_in_the_header_refuses_the_header(kind):
    make, read = READERS[kind]
    data = make("Ava").replace("UPN", "UPN\x00").replace("upn", "upn\x00").encode()
    parsed = read(data)
    assert [str(error) for error in parsed.errors] == [
        f"row 1: {'upn' if kind == 'pupils' else 'UPN'} contains a control character (U+0000)"]
    assert not parsed.rows


@pytest.mark.parametrize("kind", READERS)
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_refused_once_as_utf16(kind, codec):
    make, read = READERS[kind]
    data = make("Zoë", "Ben").encode(codec)
    assert refusal(read, data) == "the file is UTF-16: save it as UTF-8 (CSV)"


def test_a_byte_order_mark_alone_says_utf16():
    assert refusal(decode, codecs.BOM_UTF16_BE + b"u") == (
        "the file is UTF-16: save it as UTF-8 (CSV)")
