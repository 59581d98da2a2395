"""The four publishing conditions on plain data (no app, no database)."""

import datetime as dt

from consent.rules import (
    ConsentFact,
    NoPublishFact,
    PupilFacts,
    decide,
    default_expiry,
    later_no,
)

TODAY = dt.date(2026, 11, 23)


def grant(giver="mum", purpose="social_media", seq=1, **kw):
    base = dict(giver=giver, by_pupil=False, purpose=purpose, status="granted",
                effective_from=dt.date(2026, 9, 1), expires_on=dt.date(2027, 8, 31), seq=seq)
    base.update(kw)
    return ConsentFact(**base)


def test_missing_record_means_no():
    assert not decide(PupilFacts(1), "social_media", TODAY).ok


def test_granted_in_force_is_publishable():
    assert decide(PupilFacts(1, consents=(grant(),)), "social_media", TODAY).ok


def test_one_guardian_refusing_means_no():
    facts = PupilFacts(1, consents=(grant(), grant(giver="dad", status="refused", seq=2)))
    assert decide(facts, "social_media", TODAY).reason == "consent refused"


def test_latest_record_per_guardian_wins():
    withdrawn_then_granted = (grant(status="withdrawn", seq=1), grant(seq=2))
    assert decide(PupilFacts(1, consents=withdrawn_then_granted), "social_media", TODAY).ok
    granted_then_withdrawn = (grant(seq=1), grant(status="withdrawn", seq=2))
    assert not decide(PupilFacts(1, consents=granted_then_withdrawn), "social_media", TODAY).ok


def test_a_grant_signed_before_the_same_givers_latest_no_is_caught():
    no = grant(status="withdrawn", seq=2, effective_from=dt.date(2026, 10, 15))
    facts = (grant(seq=1), no, grant(giver="dad", status="refused", seq=3,
                                     effective_from=dt.date(2026, 11, 1)))
    assert later_no(facts, "mum", "social_media", dt.date(2026, 9, 20)) == no
    assert later_no(facts, "mum", "social_media", dt.date(2026, 10, 15)) is None  # same day
    assert later_no(facts, "mum", "website", dt.date(2026, 9, 20)) is None
    assert later_no((grant(seq=1),), "mum", "social_media", dt.date(2026, 8, 1)) is None


def test_pupil_objection_overrides_parent():
    facts = PupilFacts(
        1, consents=(grant(), grant(giver="pupil", by_pupil=True, status="refused", seq=2)))
    assert decide(facts, "social_media", TODAY).reason == "the pupil has objected"


def test_expired_consent_means_no():
    facts = PupilFacts(1, consents=(grant(expires_on=dt.date(2026, 8, 31)),))
    assert not decide(facts, "social_media", TODAY).ok


def test_consent_for_another_purpose_does_not_count():
    assert not decide(PupilFacts(1, consents=(grant(purpose="website"),)), "social_media", TODAY).ok


def test_nopublish_blocks_whatever_the_consent():
    facts = PupilFacts(1, consents=(grant(),), nopublish=(NoPublishFact(TODAY, None, False),))
    assert decide(facts, "social_media", TODAY).reason == "protected — do not publish"


def test_removed_or_ended_nopublish_no_longer_blocks():
    ended = NoPublishFact(dt.date(2025, 1, 1), dt.date(2025, 12, 31), False)
    removed = NoPublishFact(dt.date(2025, 1, 1), None, True)
    assert decide(PupilFacts(1, consents=(grant(),), nopublish=(ended, removed)),
                  "social_media", TODAY).ok


def test_leavers_are_never_publishable():
    assert not decide(PupilFacts(1, left_on=TODAY, consents=(grant(),)), "social_media", TODAY).ok


def test_default_expiry_is_end_of_academic_year():
    assert default_expiry(dt.date(2026, 11, 23)) == dt.date(2027, 8, 31)
    assert default_expiry(dt.date(2027, 3, 1)) == dt.date(2027, 8, 31)
    assert default_expiry(dt.date(2027, 8, 31)) == dt.date(2027, 8, 31)
