"""Reading an MIS export without a database: header names, every row's checks, duplicates."""

from __future__ import annotations

import datetime as dt

import pytest
from stdnum.gb import upn as upn_format

from consent.importer import (
    MAX_IMPORT_BYTES,
    ImportRefused,
    header_key,
    normalise_year_group,
    parse_date,
    read_export,
    upn_problem,
)
from consent.rules import DEFAULT_PURPOSES

TODAY = dt.date(2026, 11, 23)
GOOD = ("B801200005001", "A823202400009", "L823202400010")  # valid UPNs (DfE check letters)


def export(*rows: str, header: str = "upn,first_name,last_name,date_of_birth,year_group") -> bytes:
    return "\n".join((header, *rows)).encode()


def read(data: bytes):
    return read_export(data, DEFAULT_PURPOSES, TODAY)


def test_the_design_header_reads_every_field():
    parsed = read(export(f"{GOOD[0]},Ava,Thompson,2015-09-01,5"))
    assert not parsed.errors
    (row,) = parsed.rows
    assert (row.row, row.upn, row.first_name, row.last_name, row.date_of_birth, row.year_group) == (
        2, GOOD[0], "Ava", "Thompson", dt.date(2015, 9, 1), "5")


def test_a_sims_export_with_its_own_names_dates_and_year_format():
    data = export(f'{GOOD[0].lower()},"Zoë ",O\'Neill,01/09/2015,Year 5,6A',
                  header="UPN,Legal Forename,Legal Surname,DOB,NC Year Actual,Reg Group")
    (row,) = read(data.decode().encode("cp1252")).rows  # SIMS writes Windows-1252
    assert (row.upn, row.first_name, row.last_name, row.date_of_birth, row.year_group) == (
        GOOD[0], "Zoë", "O'Neill", dt.date(2015, 9, 1), "5")


def test_an_arbor_export_with_a_byte_order_mark():
    data = ("\ufeffFirst name,Last name,UPN,Date of birth,Year group\r\n"
            "Ava,Lee,{},2019-02-03,Reception\r\n")
    (row,) = read(data.format(GOOD[1]).encode("utf-8")).rows
    assert (row.first_name, row.upn, row.year_group) == ("Ava", GOOD[1], "R")


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_an_export_excel_saved_with_semicolons_or_a_tab_separated_one(delimiter):
    data = export(delimiter.join((GOOD[0], "Siôn", "ap Dafydd", "01/09/2015", "Year 5", "no",
                                  '"Smith, J"')),
                  header=delimiter.join(("UPN", "Legal Forename", "Legal Surname", "DOB",
                                         "NC Year Actual", "Consent Website", "Contact")))
    parsed = read(data)
    assert not parsed.errors
    (row,) = parsed.rows
    assert (row.upn, row.first_name, row.last_name, row.date_of_birth, row.year_group,
            row.consents) == (GOOD[0], "Siôn", "ap Dafydd", dt.date(2015, 9, 1), "5",
                              (("website", "no"),))


def test_a_comma_header_keeps_semicolons_in_its_cells():
    (row,) = read(export(f"{GOOD[0]},Ava;Mae,Thompson,2015-09-01,5")).rows
    assert row.first_name == "Ava;Mae"


def test_the_contract_name_wins_over_an_alias_in_the_same_file():
    data = export(f"{GOOD[0]},Ava,Legal Ava,Thompson,2015-09-01,5",
                  header="upn,first_name,legal forename,last_name,date_of_birth,year_group")
    assert read(data).rows[0].first_name == "Ava"


def test_a_missing_column_is_a_header_error_naming_what_to_use():
    parsed = read(export(f"{GOOD[0]},Ava,2015-09-01,5",
                         header="upn,first_name,date_of_birth,year_group"))
    assert [(e.row, e.message[:26]) for e in parsed.errors] == [(1, "no column for last_name (e")]
    assert "surname" in parsed.errors[0].message and not parsed.rows


@pytest.mark.parametrize("value, problem", [
    ("", "UPN missing"),
    ("B80120000500", "not 13 characters long"),
    ("A801200005001", "wrong check letter"),
    ("E000200005001", "unknown local authority code 000"),
    ("X80120000A001", "is not a UPN"),
])
def test_every_upn_problem_has_its_own_words(value, problem):
    parsed = read(export(f"{value},Ava,Thompson,2015-09-01,5"))
    assert problem in parsed.errors[0].message and parsed.errors[0].row == 2


def upn_of(la_code: str, rest: str = "200124001") -> str:
    """A UPN of that local authority with the right check letter (DfE's modulus 23)."""
    body = la_code + rest
    return upn_format.calc_check_digit(body) + body


@pytest.mark.parametrize("la_code", ["660", "661", "670", "681", "838", "839", "940", "941",
                                     "942", "943"])
def test_welsh_and_newer_english_authorities_upns_are_accepted(la_code):
    # python-stdnum's list lacks them: a Welsh school's whole import was refused.
    upn = upn_of(la_code)
    assert upn_problem(upn) is None
    parsed = read(export(f"{upn},Efa,Jones,2015-09-01,5"))
    assert not parsed.errors and [row.upn for row in parsed.rows] == [upn]
    wrong = ("A" if upn[0] != "A" else "B") + upn[1:]
    assert "wrong check letter" in upn_problem(wrong)


def test_an_authority_code_nobody_has_is_still_refused():
    assert "unknown local authority code 682" in upn_problem(upn_of("682"))


def test_upn_problem_accepts_a_temporary_upn_with_a_final_letter():
    assert upn_problem(GOOD[0]) is None


@pytest.mark.parametrize("value, expected", [
    ("5", "5"), ("05", "5"), ("Year 5", "5"), ("Y5", "5"), ("year_11", "11"), ("14", "14"),
    ("R", "R"), ("Reception", "R"), ("YR", "R"), ("Year R", "R"), ("N1", "N1"),
    ("Nursery 2", "N2"), ("0", None), ("15", None), ("6A", None), ("", None), ("Nursery", None),
])
def test_year_groups(value, expected):
    assert normalise_year_group(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("2015-09-01", dt.date(2015, 9, 1)), ("01/09/2015", dt.date(2015, 9, 1)),
    ("1-9-2015", dt.date(2015, 9, 1)), ("01.09.2015", dt.date(2015, 9, 1)),
    ("09/31/2015", None), ("1 Sept 2015", None), ("", None),
])
def test_dates(value, expected):
    assert parse_date(value) == expected


def test_a_bad_row_lists_all_its_problems_on_one_line():
    parsed = read(export(f"{GOOD[0]},,Thompson,2030-01-01,Q"))
    (error,) = parsed.errors
    assert str(error) == ("row 2: first name missing; date of birth 01/01/2030 is in the future; "
                          "year group 'Q' is not one of N1, N2, R, 1-14")


def test_a_name_excel_saved_without_its_welsh_letter_is_refused():
    # Excel's "CSV (Comma delimited)" writes Windows-1252, which has no ŵ or ŷ: it writes "?".
    data = "upn,first_name,last_name,date_of_birth,year_group\n{},Llŷr,Bowen,2015-09-01,5\n"
    parsed = read(data.format(GOOD[0]).encode("cp1252", errors="replace"))
    assert not parsed.rows
    assert [str(e) for e in parsed.errors] == [
        "row 2: first name 'Ll?r' holds a question mark where the export could not write a "
        "letter (ŵ, ŷ): save the file as CSV UTF-8 and import it again"]


def test_dates_of_birth_far_in_the_past_or_not_dates():
    parsed = read(export(f"{GOOD[0]},A,B,1990-01-01,5", f"{GOOD[1]},A,B,31/02/2015,5",
                         f"{GOOD[2]},A,B,,5"))
    assert [e.message for e in parsed.errors] == [
        "date of birth 01/01/1990 is more than 25 years ago",
        "date of birth '31/02/2015' is not a date (use YYYY-MM-DD or DD/MM/YYYY)",
        "date of birth missing",
    ]


def test_duplicate_upns_name_both_rows():
    parsed = read(export(f"{GOOD[0]},Ava,A,2015-09-01,5", f"{GOOD[1]},Ben,B,2015-09-01,5",
                         f"{GOOD[0].lower()},Ava,C,2015-09-01,5"))
    assert [str(e) for e in parsed.errors] == [
        f"row 4: UPN {GOOD[0]} appears twice (rows 2 and 4)"]


def test_rows_are_counted_as_a_spreadsheet_shows_them_and_blank_lines_skipped():
    parsed = read(export(f"{GOOD[0]},Ava,A,2015-09-01,5", "", ",,,,", "bad,Ben,B,2015-09-01,5"))
    assert [e.row for e in parsed.errors] == [5]


def test_consent_and_biometric_columns():
    header = ("upn,first_name,last_name,date_of_birth,year_group,consent_website,"
              "Consent Social Media,consent_billboards,biometric_consent")
    parsed = read(export(f"{GOOD[0]},A,B,2015-09-01,5,yes,N,yes,",
                         f"{GOOD[1]},A,B,2015-09-01,5,,,,Y",
                         f"{GOOD[2]},A,B,2015-09-01,5,maybe,,,", header=header))
    first, second = parsed.rows
    assert first.consents == (("website", "yes"), ("social_media", "no"))
    assert first.biometric is None
    assert second.consents == () and second.biometric == "yes"
    assert [e.message for e in parsed.errors] == [
        "consent_website is yes, no or empty, not 'maybe'"]
    assert parsed.ignored == ["consent_billboards"]


def test_header_keys():
    assert header_key(" Legal-Surname ") == header_key("legal_surname") == "legal surname"


@pytest.mark.parametrize("data, problem", [
    (b"", "empty"),
    (b"upn,first_name,last_name,date_of_birth,year_group\n", "no pupils"),
    (b"x" * (MAX_IMPORT_BYTES + 1), "larger than"),
])
def test_files_refused_as_a_whole(data, problem):
    with pytest.raises(ImportRefused, match=problem):
        read(data)


def plan_of(on_roll: int, leaving: int, confirmed=None, limit=None):
    """An import plan without a database: `leaving` of `on_roll` pupils missing from the file."""
    from consent.importer import LEAVER_SHARE_LIMIT, ImportPlan, ParsedExport
    from consent.models import Pupil

    plan = ImportPlan(parsed=ParsedExport(), full=True, on_roll=on_roll,
                      leaver_limit=LEAVER_SHARE_LIMIT if limit is None else limit,
                      confirmed_leavers=confirmed)
    plan.leaving = [Pupil(upn=f"U{n}", first_name="A", last_name="B", year_group="5")
                    for n in range(leaving)]
    return plan


@pytest.mark.parametrize("on_roll, leaving, refused", [
    (14, 12, True), (10, 1, False), (10, 2, True), (100, 10, False), (100, 11, True),
    (3, 1, True), (1, 1, True), (5, 0, False), (0, 0, False), (2000, 200, False),
])
def test_more_than_a_tenth_of_the_roll_leaving_needs_the_number_typed(on_roll, leaving, refused):
    from consent.importer import LEAVER_SHARE_LIMIT

    assert LEAVER_SHARE_LIMIT == 0.10
    plan = plan_of(on_roll, leaving)
    assert plan.refused is refused and plan.ok is not refused
    assert plan_of(on_roll, leaving, confirmed=leaving).ok  # the exact number confirms it
    assert not plan_of(on_roll, leaving, confirmed=leaving + 1).ok
    if leaving:
        assert not plan_of(on_roll, leaving, confirmed=leaving - 1).ok


def test_the_refusal_names_the_numbers_and_how_to_confirm():
    assert plan_of(14, 12).refusal() == (
        "this file would make 12 of 14 pupils leavers (more than 10%): if it is a whole-school "
        "export, confirm by typing 12; if it is not, import it as a partial export")
    assert plan_of(14, 12, confirmed=11).refusal().startswith(
        "11 leavers were confirmed but this file would make 12 of 14 pupils leavers")
    assert plan_of(14, 1).refusal() == ""


def test_a_configured_limit_and_rows_with_errors_come_first():
    from consent.importer import RowError

    assert not plan_of(10, 2, limit=0.25).refused and plan_of(10, 3, limit=0.25).refused
    assert plan_of(10, 1, limit=0.0).refused  # a school may ask to confirm every leaver
    with_errors = plan_of(14, 12, confirmed=3)
    with_errors.errors.append(RowError(2, "UPN missing"))
    assert not with_errors.refused and not with_errors.ok and with_errors.refusal() == ""
