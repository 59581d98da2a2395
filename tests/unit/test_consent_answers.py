"""The rules behind the screens, on plain data: what a decision turned on, renewals, a parent's
own answer and what a yes or no records, and biometric enrolment."""

from __future__ import annotations

import datetime as dt

import pytest

from consent.rules import (
    BiometricFact,
    ConsentFact,
    PupilFacts,
    answer_awaited,
    answer_expiry,
    biometric_status_for_answer,
    decide,
    default_expiry,
    giver_answer,
    grants_expiring,
    may_enrol,
    renewal_expiry,
    status_for_answer,
)
from consent.services import giver_key

TODAY = dt.date(2027, 8, 10)
PURPOSES = ("website", "social_media")


def fact(giver="mum", purpose="website", status="granted", seq=1, expires=dt.date(2027, 8, 31),
         start=dt.date(2026, 9, 1)):
    return ConsentFact(giver, giver == "pupil", purpose, status, start, expires, seq)


def test_a_decision_names_the_record_it_turned_on():
    mum, dad = fact(seq=1), fact("dad", seq=2, expires=dt.date(2027, 8, 20))
    assert decide(PupilFacts(1, consents=(mum, dad)), "website", TODAY).fact == dad  # lapses first
    refusal = fact("dad", status="refused", seq=3)
    assert decide(PupilFacts(1, consents=(mum, dad, refusal)), "website", TODAY).fact == refusal
    assert decide(PupilFacts(1), "website", TODAY).fact is None


def test_grants_lapsing_within_the_window_are_the_forms_to_send():
    soon, later = fact(seq=1), fact(purpose="social_media", seq=2, expires=dt.date(2028, 8, 31))
    pupil = PupilFacts(1, consents=(soon, later, fact("pupil", seq=3)))
    assert grants_expiring(pupil, PURPOSES, TODAY, days=30) == [soon]
    assert grants_expiring(pupil, PURPOSES, TODAY, days=10) == []
    refused_since = fact(status="refused", seq=4)
    assert grants_expiring(PupilFacts(1, consents=(soon, refused_since)), PURPOSES, TODAY) == []
    assert grants_expiring(PupilFacts(1, left_on=TODAY, consents=(soon,)), PURPOSES, TODAY) == []


def test_a_renewal_runs_to_the_end_of_the_next_academic_year():
    assert renewal_expiry(dt.date(2027, 8, 31)) == dt.date(2028, 8, 31)
    assert renewal_expiry(dt.date(2027, 6, 30)) == dt.date(2027, 8, 31)
    assert renewal_expiry(dt.date(2027, 8, 31)) == default_expiry(dt.date(2027, 9, 1))


def test_a_yes_given_as_the_school_year_ends_runs_to_the_end_of_the_next():
    assert answer_expiry(dt.date(2026, 12, 7)) == dt.date(2027, 8, 31)
    assert answer_expiry(dt.date(2027, 7, 31)) == dt.date(2027, 8, 31)
    assert answer_expiry(TODAY) == dt.date(2028, 8, 31)  # a renewal round in August
    soon = fact(start=TODAY, expires=answer_expiry(TODAY))  # not due again the day it is given
    assert grants_expiring(PupilFacts(1, consents=(soon,)), PURPOSES, TODAY) == []


def test_a_reminder_is_for_a_giver_whose_answer_is_awaited_for_some_purpose():
    lasting = fact(purpose="social_media", seq=2, expires=dt.date(2028, 8, 31))
    refused = fact(purpose="website", status="refused", seq=3)
    assert not answer_awaited((lasting, refused), "mum", PURPOSES, TODAY)
    assert answer_awaited((lasting,), "mum", PURPOSES, TODAY)  # nothing said of the website
    assert answer_awaited((lasting, fact(seq=4)), "mum", PURPOSES, TODAY)  # lapses on 31 August
    assert not answer_awaited((lasting, fact(seq=4)), "mum", PURPOSES, TODAY, days=10)
    assert answer_awaited((lasting, refused), "dad", PURPOSES, TODAY)  # his own, not hers


def test_a_givers_own_answer():
    facts = (fact(seq=1), fact("dad", status="refused", seq=2),
             fact("gran", seq=3, expires=dt.date(2027, 7, 31)))
    assert [giver_answer(facts, g, "website", TODAY) for g in ("mum", "dad", "gran", "aunt")] == [
        "yes", "no", "not_in_force", "none"]


@pytest.mark.parametrize("current, answer, status", [
    ("yes", "yes", None), ("no", "yes", "granted"), ("none", "yes", "granted"),
    ("not_in_force", "yes", "granted"), ("yes", "no", "withdrawn"), ("no", "no", None),
    ("none", "no", "refused"), ("not_in_force", "no", "refused"),
])
def test_what_a_yes_or_no_records(current, answer, status):
    assert status_for_answer(current, answer) == status


@pytest.mark.parametrize("current, answer, status", [
    (None, "yes", "granted"), ("granted", "yes", None), ("objected", "yes", "granted"),
    (None, "no", "objected"), ("granted", "no", "withdrawn"), ("withdrawn", "no", None),
    ("objected", "no", None),
])
def test_what_a_biometric_yes_or_no_records(current, answer, status):
    assert biometric_status_for_answer(current, answer) == status


def test_answers_are_yes_or_no_only():
    with pytest.raises(ValueError):
        status_for_answer("yes", "maybe")
    with pytest.raises(ValueError):
        biometric_status_for_answer(None, "")


def test_biometric_enrolment_needs_a_parents_written_consent_and_no_objection():
    parent = BiometricFact("mum", False, "granted", True, 1)
    assert may_enrol([parent]).ok
    assert not may_enrol([]).ok
    assert not may_enrol([BiometricFact("pupil", True, "granted", True, 1)]).ok
    assert not may_enrol([parent, BiometricFact("pupil", True, "objected", True, 2)]).ok
    assert not may_enrol([parent, BiometricFact("dad", False, "objected", True, 2)]).ok
    assert not may_enrol([parent, BiometricFact("mum", False, "withdrawn", True, 2)]).ok


def test_the_same_person_is_one_giver_however_the_record_came():
    assert giver_key("Mary  Thompson", "parent") == giver_key("mary thompson", "carer")
    assert giver_key("Ava Thompson", "pupil") == "pupil"
    assert giver_key("pupil", "parent") != "pupil"  # a parent named "Pupil" is still a parent
