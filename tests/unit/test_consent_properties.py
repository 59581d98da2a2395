"""Property tests of the publishing rules: more protection never makes a pupil more publishable.

Each property draws a pupil's facts (consent records from several givers, no-publish entries, a
leaving date) and a day, adds one protective fact, and checks that no purpose became publishable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from consent.rules import (
    STATUSES,
    ConsentFact,
    NoPublishFact,
    PupilFacts,
    decide,
    nopublish_active,
    publishable_ids,
)

PURPOSES = ("website", "social_media")  # two purposes: enough to cross, few enough to collide
GIVERS = ("g1", "g2", "mis export", "pupil")
days = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2028, 12, 31))
on_days = st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 31))  # decision days
thorough = settings(max_examples=300, deadline=None)


ANY_STATUS = st.sampled_from(STATUSES)


@st.composite
def consent_facts(draw, status=ANY_STATUS):
    who = draw(st.sampled_from(GIVERS))
    return ConsentFact(
        giver=who, by_pupil=who == "pupil", purpose=draw(st.sampled_from(PURPOSES)),
        status=draw(status), effective_from=draw(days), expires_on=draw(st.none() | days), seq=0,
    )


granted = consent_facts(status=st.just("granted"))


nopublish_facts = st.builds(NoPublishFact, starts_on=days, ends_on=st.none() | days,
                            removed=st.booleans())


wide_grants = st.builds(
    ConsentFact, giver=st.sampled_from(GIVERS), by_pupil=st.just(False),
    purpose=st.sampled_from(PURPOSES), status=st.just("granted"),
    effective_from=st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2026, 1, 1)),
    expires_on=st.none() | st.dates(min_value=dt.date(2027, 12, 31),
                                    max_value=dt.date(2028, 12, 31)),
    seq=st.just(0),
)


@st.composite
def pupils(draw):
    # Grants in force over most of the drawn days, then a few records of any kind: enough
    # publishable pupils (about a third) for the properties to have something to take away.
    grants = draw(st.lists(wide_grants, min_size=1, max_size=4))
    facts = draw(st.lists(consent_facts(), max_size=3))
    ordered = tuple(dataclasses.replace(f, seq=i) for i, f in enumerate(grants + facts))
    return PupilFacts(
        pupil_id=1, left_on=draw(st.none() | st.none() | days), consents=ordered,
        nopublish=tuple(draw(st.lists(nopublish_facts, max_size=1))),
    )


def later(pupil: PupilFacts, fact: ConsentFact) -> PupilFacts:
    """The pupil with `fact` recorded after every record it already has."""
    seq = max((f.seq for f in pupil.consents), default=0) + 1
    fact = dataclasses.replace(fact, seq=seq)
    return dataclasses.replace(pupil, consents=(*pupil.consents, fact))


def never_more_publishable(before: PupilFacts, after: PupilFacts, on: dt.date) -> None:
    for purpose in PURPOSES:
        if decide(after, purpose, on).ok:
            assert decide(before, purpose, on).ok, (purpose, before, after)


@thorough
@given(pupils(), consent_facts(status=st.just("refused")), on_days)
def test_adding_a_refusal_never_makes_a_pupil_more_publishable(pupil, refusal, on):
    never_more_publishable(pupil, later(pupil, refusal), on)


@thorough
@given(pupils(), consent_facts(status=st.just("withdrawn")), on_days)
def test_adding_a_withdrawal_never_makes_a_pupil_more_publishable(pupil, withdrawal, on):
    never_more_publishable(pupil, later(pupil, withdrawal), on)


@thorough
@given(pupils(), st.data(), on_days)
def test_adding_or_bringing_forward_an_expiry_never_makes_a_pupil_more_publishable(pupil, data, on):
    if not pupil.consents:
        return
    index = data.draw(st.integers(0, len(pupil.consents) - 1))
    fact = pupil.consents[index]
    latest = fact.expires_on or dt.date(2028, 12, 31)
    expiry = data.draw(st.dates(min_value=dt.date(2024, 1, 1), max_value=latest))
    consents = list(pupil.consents)
    consents[index] = dataclasses.replace(fact, expires_on=expiry)
    never_more_publishable(pupil, dataclasses.replace(pupil, consents=tuple(consents)), on)


@thorough
@given(pupils(), nopublish_facts, on_days)
def test_adding_a_nopublish_entry_never_makes_a_pupil_more_publishable(pupil, entry, on):
    after = dataclasses.replace(pupil, nopublish=(*pupil.nopublish, entry))
    never_more_publishable(pupil, after, on)


@thorough
@given(pupils(), days, on_days)
def test_adding_or_bringing_forward_a_leaving_date_never_makes_a_pupil_more_publishable(
    pupil, left_on, on
):
    if pupil.left_on is not None:
        left_on = min(left_on, pupil.left_on)
    never_more_publishable(pupil, dataclasses.replace(pupil, left_on=left_on), on)


@thorough
@given(pupils(), st.lists(granted, min_size=1, max_size=6), on_days)
def test_granting_never_unblocks_a_nopublish_pupil(pupil, grants, on):
    entry = NoPublishFact(starts_on=on, ends_on=None, removed=False)
    protected = dataclasses.replace(pupil, nopublish=(*pupil.nopublish, entry))
    for grant in grants:
        protected = later(protected, grant)
    for purpose in PURPOSES:
        decision = decide(protected, purpose, on)
        assert not decision.ok
        assert decision.reason == "protected — do not publish"


@thorough
@given(pupils(), on_days)
def test_any_active_nopublish_entry_blocks_every_purpose(pupil, on):
    if any(nopublish_active(entry, on) for entry in pupil.nopublish):
        assert all(not decide(pupil, purpose, on).ok for purpose in PURPOSES)


@given(pupils(), st.lists(granted, max_size=4), on_days)
def test_a_refusal_stands_whatever_is_granted_by_others(pupil, grants, on):
    refused = later(pupil, ConsentFact("g1", False, "website", "refused", on, None, 0))
    for grant in grants:
        if grant.giver != "g1":
            refused = later(refused, grant)
    assert not decide(refused, "website", on).ok


@given(st.lists(pupils(), max_size=5), consent_facts(status=st.just("refused")), on_days)
def test_a_refusal_for_one_pupil_leaves_the_rest_of_the_school_as_it_was(school, refusal, on):
    school = [dataclasses.replace(p, pupil_id=i) for i, p in enumerate(school)]
    if not school:
        return
    changed = [later(school[0], refusal), *school[1:]]
    for purpose in PURPOSES:
        before, after = publishable_ids(school, purpose, on), publishable_ids(changed, purpose, on)
        assert after <= before
        assert after - {0} == before - {0}
