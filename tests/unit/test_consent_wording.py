"""The register's messages: English for the command line, word for word, and the template with
its values kept for the web to say them in the reader's language."""

import datetime as dt

import pytest

from consent import rules
from consent.importer import IMPORT_SUMMARY, ImportRefused, RowError, read_export, upn_problem
from consent.wording import N_, Message, from_record, joined, reread, to_record

TODAY = dt.date(2026, 12, 6)


def test_a_message_is_its_english_and_keeps_template_and_values():
    message = N_("no pupil with UPN %(upn)s at this school", upn="A123")
    assert message == "no pupil with UPN A123 at this school"
    assert str(message) == "no pupil with UPN A123 at this school" and type(str(message)) is str
    assert (message.template, message.values) == ("no pupil with UPN %(upn)s at this school",
                                                  {"upn": "A123"})
    assert N_("50% of the roll") == "50% of the roll"  # no values: the template is not formatted


def test_problems_joined_stay_separate_messages():
    problems = joined([N_("UPN missing"), N_("%(field)s missing", field=N_("first name"))])
    assert problems == "UPN missing; first name missing"
    assert [type(v) for v in problems.values.values()] == [Message, Message]


def test_a_row_error_prints_as_before_and_reads_as_a_message():
    error = RowError(4, N_("UPN missing"))
    assert str(error) == "row 4: UPN missing"
    assert error.text == "row 4: UPN missing" and error.text.values == {"row": 4,
                                                                       "problem": "UPN missing"}


def test_the_importer_says_each_problem_as_a_message_in_the_old_english():
    parsed = read_export(b"upn,first_name,last_name,date_of_birth,year_group\n"
                         b"bad,,Jones,31/02/2015,Year 20\n", rules.DEFAULT_PURPOSES, TODAY)
    [error] = parsed.errors
    assert str(error) == ("row 2: UPN BAD is not 13 characters long; first name missing; date of "
                          "birth '31/02/2015' is not a date (use YYYY-MM-DD or DD/MM/YYYY); year "
                          "group 'Year 20' is not one of N1, N2, R, 1-14")
    assert isinstance(upn_problem("bad"), Message)
    with pytest.raises(ImportRefused) as refused:
        read_export(b"", rules.DEFAULT_PURPOSES, TODAY)
    assert isinstance(refused.value.args[0], Message)


def test_a_decision_gives_its_reason_as_a_message():
    decision = rules.decide(rules.PupilFacts(pupil_id=1), "website", TODAY)
    assert decision.reason == "no consent recorded" and isinstance(decision.reason, Message)


def test_stored_english_is_read_back_as_the_message_that_made_it():
    summary = N_(IMPORT_SUMMARY, rows=12, new=2, updated=1, unchanged=9, rejoining=0, leaving=1,
                 consents=3, biometrics=0)
    again = reread(str(summary), IMPORT_SUMMARY)
    assert isinstance(again, Message) and again.values == summary.values
    twice = N_("import %(later)d was applied after import %(id)d: undo import %(later)d first")
    assert reread("import 7 was applied after import 5: undo import 7 first", twice).values == {
        "later": 7, "id": 5}
    assert type(reread("import 7 was applied after import 5: undo import 8 first", twice)) is str
    assert type(reread("typed by a person (with 50% and %(x)s in it)", IMPORT_SUMMARY)) is str


def test_a_message_kept_in_a_record_comes_back_with_its_template_and_values():
    message = N_("The video is %(width)d×%(height)d: the most accepted is 4K.", width=5000,
                 height=3000)
    kept = to_record(message, 300)
    back = from_record(kept)
    assert isinstance(back, Message)
    assert (back.template, back.values, str(back)) == (message.template, message.values,
                                                       str(message))


def test_a_message_made_of_messages_comes_back_whole_from_its_record():
    problems = joined([N_("contains a pupil's surname (%(name)s)", name="Huws"),
                       N_("contains a pupil's full name (%(name)s)", name="Cai Huws")])
    message = N_("caption refused: %(problems)s", problems=problems)
    back = from_record(to_record(message, 500))
    inner = back.values["problems"]
    assert str(back) == str(message) and isinstance(inner, Message)
    assert [part.template for part in inner.values.values()] == [
        "contains a pupil's surname (%(name)s)", "contains a pupil's full name (%(name)s)"]


def test_plain_text_and_a_message_too_long_for_the_record_are_kept_as_english():
    assert to_record("screening failed; it will be retried", 300) == (
        "screening failed; it will be retried")
    long = N_("%(text)s", text="é" * 400)
    assert to_record(long, 300) == "é" * 300  # English, cut, never half a JSON record
    assert from_record("é" * 300) == "é" * 300
    for written_before in (None, "", "The file is empty.", "{not json", '{"template": 1}'):
        assert from_record(written_before) == written_before
