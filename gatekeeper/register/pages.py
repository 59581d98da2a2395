"""What the register's screens show, read from the database: no decisions are made here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from consent import rules
from consent.importer import YEAR_GROUPS
from consent.models import BiometricConsent, Pupil
from consent.names import folded
from consent.services import pupil_facts, school_facts
from gatekeeper.models import Post

PAGE_SIZE = 200
MAX_SEARCH_WORDS = 5


@dataclass(frozen=True)
class PupilList:
    pupils: list[Pupil]
    matrix: dict[int, dict[str, rules.Decision]]
    total: int
    page: int
    pages: int
    years: list[str]


def year_groups(session: Session, school_id: int) -> list[str]:
    found = set(session.scalars(select(Pupil.year_group).where(Pupil.school_id == school_id)
                                .distinct()))
    return sorted(found, key=lambda y: (YEAR_GROUPS.index(y) if y in YEAR_GROUPS else 99, y))


def matches(pupil: Pupil, words: list[str]) -> bool:
    fields = (folded(pupil.first_name), folded(pupil.last_name), folded(pupil.upn))
    return all(any(word in f for f in fields) for word in words)


def pupil_list(session: Session, school_id: int, purposes, on: dt.date, *, search: str = "",
               year: str = "", leavers: bool = False, page: int = 1) -> PupilList:
    """One page of pupils (every word of the search in a name or the UPN) with their matrix row."""
    query = select(Pupil).where(Pupil.school_id == school_id)
    if year:
        query = query.where(Pupil.year_group == year)
    if not leavers:
        query = query.where(or_(Pupil.left_on.is_(None), Pupil.left_on > on))
    words = [folded(word) for word in search.split()[:MAX_SEARCH_WORDS]]
    found = sorted((p for p in session.scalars(query) if matches(p, words)),
                   key=lambda p: (folded(p.last_name), folded(p.first_name), p.id))
    total = len(found)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    pupils = found[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    facts = {f.pupil_id: f for f in school_facts(session, school_id)}
    matrix = {p.id: {purpose: rules.decide(facts[p.id], purpose, on) for purpose in purposes}
              for p in pupils}
    return PupilList(pupils, matrix, total, page, pages, year_groups(session, school_id))


@dataclass(frozen=True)
class PurposeStatus:
    purpose: str
    decision: rules.Decision
    giver: str  # who the deciding record came from ("" when there is none)
    until: dt.date | None  # when a publishable pupil's consent lapses


def purpose_statuses(pupil: Pupil, purposes, on: dt.date) -> list[PurposeStatus]:
    """Today's decision per purpose, naming the record it turned on."""
    facts, records = pupil_facts(pupil), {r.id: r for r in pupil.consent_records}
    out = []
    for purpose in purposes:
        decision = rules.decide(facts, purpose, on)
        record = records.get(decision.fact.seq) if decision.fact else None
        out.append(PurposeStatus(
            purpose, decision, record.given_by if record else "",
            record.expires_on if record and decision.ok else None,
        ))
    return out


def biometric_history(session: Session, pupil: Pupil) -> list[BiometricConsent]:
    query = select(BiometricConsent).where(BiometricConsent.pupil_id == pupil.id)
    return list(session.scalars(query.order_by(BiometricConsent.id.desc())))


def posts_showing(session: Session, pupil: Pupil) -> list[Post]:
    """Every post (queued, published or withdrawn) whose photo shows the pupil."""
    posts = session.scalars(select(Post).where(Post.school_id == pupil.school_id)
                            .order_by(Post.id.desc()))
    return [post for post in posts if pupil.id in post.pupil_ids]


def protected(pupil: Pupil, on: dt.date) -> bool:
    """On the no-publish list today: all that any role but the DSL may know."""
    return any(rules.nopublish_active(f, on) for f in pupil_facts(pupil).nopublish)
