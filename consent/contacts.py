"""Guardians from the MIS: a contacts export (SIMS or Arbor) checked row by row, then applied all at
once or not at all, as the pupils' import is.

One row is one contact of one pupil. A contact who is guardian of several pupils appears once per
pupil; the MIS contact id (SIMS "Contact Person ID", Arbor "Guardian ID") says it is the same
person, or failing that the email address. That identity is stored on every Guardian row as
`contact_key`, so the register knows which pupils share a guardian: `siblings_of` and
`sibling_groups` answer it, and twins are siblings born on the same day (`twins_of`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.importer import (
    LOST_LETTER,
    ImportRefused,
    RowError,
    control_problems,
    csv_rows,
    decode,
    header_key,
    header_problems,
    upn_problem,
)
from consent.models import Guardian, Pupil
from consent.services import GUARDIAN_RELATIONSHIPS, link_named_records, revoke_link
from consent.wording import N_, joined

MAX_NAME = 200
MAX_RELATIONSHIP = 50
# The MIS's words for a relationship, as the register's (parent, carer, guardian, other).
RELATIONSHIP_WORDS = {
    "parent": ("parent", "mother", "father", "mum", "dad", "step mother", "step father",
               "stepmother", "stepfather", "step parent", "adoptive parent", "parent carer"),
    "carer": ("carer", "foster carer", "foster parent", "foster mother", "foster father",
              "kinship carer", "carer foster"),
    "guardian": ("guardian", "legal guardian", "special guardian", "guardian legal"),
}
MAX_CONTACT_ID = 100
MAX_ROWS = 60_000  # a 2,000-pupil school has two to four contacts per pupil
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRUE_WORDS, FALSE_WORDS = (frozenset({"yes", "y", "true", "t", "1"}),
                           frozenset({"no", "n", "false", "f", "0"}))
# Header names per field: the plain names, then SIMS's student contacts report, then Arbor's
# guardians export. Case, spaces and punctuation do not matter.
HEADER_NAMES = {
    "upn": ("upn", "student upn", "pupil upn", "unique pupil number"),
    "contact_id": ("contact_id", "contact person id", "contact id", "person id", "guardian id",
                   "contact reference"),
    "name": ("contact_name", "contact name", "guardian name", "guardian", "name"),
    "forename": ("contact_forename", "contact forename", "guardian first name", "guardian forename",
                 "contact first name", "first name", "forename"),
    "surname": ("contact_surname", "contact surname", "guardian last name", "guardian surname",
                "contact last name", "last name", "surname"),
    "relationship": ("relationship", "relationship to student", "relationship to pupil",
                     "contact relationship", "guardian relationship"),
    "email": ("email", "contact email", "primary email", "home email", "email address",
              "guardian email", "contact email address", "main email"),
    "parental_responsibility": ("parental_responsibility", "parental responsibility",
                                "has parental responsibility", "legal guardian"),
}


@dataclass(frozen=True)
class ContactRow:
    row: int
    upn: str
    name: str
    relationship: str
    email: str | None
    contact_key: str | None
    parental_responsibility: bool | None


@dataclass
class ParsedContacts:
    rows: list[ContactRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)


def map_contact_columns(header: list[str]) -> ParsedContacts:
    """Which column holds each field; a name is either one column or forename and surname."""
    parsed = ParsedContacts()
    keys: dict[str, str] = {}
    for name in header:
        keys.setdefault(header_key(name), name)
    for name, aliases in HEADER_NAMES.items():
        found = next((keys[header_key(a)] for a in aliases if header_key(a) in keys), None)
        if found is not None:
            parsed.columns[name] = found
    if "upn" not in parsed.columns:
        parsed.errors.append(RowError(1, N_("no column for the pupil's UPN (expected UPN or "
                                            "Student UPN)")))
    if "name" not in parsed.columns and "surname" not in parsed.columns:
        parsed.errors.append(RowError(1, N_("no column for the contact's name (expected Contact "
                                            "Surname and Contact Forename, or Guardian Last "
                                            "Name)")))
    return parsed


def yes_no(value: str) -> tuple[bool | None, bool]:
    """A yes/no/true/false/T/F cell as (answer, understood)."""
    text = value.strip().lower()
    if not text:
        return None, True
    if text in TRUE_WORDS:
        return True, True
    if text in FALSE_WORDS:
        return False, True
    return None, False


def register_relationship(word: str) -> str:
    """`Mother`, `Step-Father` → parent; `Foster Carer` → carer; `Legal Guardian` → guardian;
    empty → parent; anything else (a grandparent, an aunt) → other."""
    key = header_key(word)
    if not key:
        return "parent"
    found = next((rel for rel, words in RELATIONSHIP_WORDS.items() if key in words), "other")
    return found if found in GUARDIAN_RELATIONSHIPS else "other"


def read_contact(number: int, cells: dict[str, str], columns: dict[str, str]):
    """One data row as a ContactRow, or its problems."""
    def cell(name: str) -> str:
        return " ".join(cells.get(columns.get(name, ""), "").split())

    problems = control_problems(cells, columns.values())
    upn = cell("upn").upper().replace(" ", "")
    if not upn:
        problems.append(N_("UPN missing"))
    elif problem := upn_problem(upn):
        problems.append(problem)
    name = cell("name") or " ".join(p for p in (cell("forename"), cell("surname")) if p)
    if not name:
        problems.append(N_("contact name missing"))
    elif len(name) > MAX_NAME:
        problems.append(N_("contact name longer than %(n)d characters", n=MAX_NAME))
    elif LOST_LETTER in name:
        problems.append(N_("%(field)s %(value)r holds a question mark where the export could "
                           "not write a letter (ŵ, ŷ): save the file as CSV UTF-8 and import it "
                           "again", field=N_("contact name"), value=name))
    relationship = register_relationship(cell("relationship"))
    if len(cell("relationship")) > MAX_RELATIONSHIP:
        problems.append(N_("relationship longer than %(n)d characters", n=MAX_RELATIONSHIP))
    email = cell("email").lower() or None
    if email is not None and (not EMAIL.match(email) or len(email) > 254):
        problems.append(N_("%(value)r is not an email address", value=email[:80]))
    responsibility, understood = yes_no(cell("parental_responsibility"))
    if not understood:
        problems.append(N_("parental responsibility is yes or no, not %(value)r",
                           value=cell("parental_responsibility")))
    contact_id = cell("contact_id")
    if len(contact_id) > MAX_CONTACT_ID:
        problems.append(N_("contact id longer than %(n)d characters", n=MAX_CONTACT_ID))
    if problems:
        return None, [RowError(number, joined(problems))]
    key = f"mis:{contact_id}" if contact_id else (f"email:{email}" if email else None)
    return ContactRow(number, upn, name, relationship, email, key, responsibility), []


def read_contacts(data: bytes) -> ParsedContacts:
    """Parse and check a contacts export: every row, the same contact twice for one pupil, and a
    contact id that carries two different email addresses."""
    lines = csv_rows(decode(data))
    _number, header = next(lines, (1, None))
    if not header or not any(h.strip() for h in header):
        raise ImportRefused(N_("the file is empty: expected a header row and one row per "
                               "contact"))
    parsed = map_contact_columns(header)
    parsed.errors[:0] = header_problems(header)
    if parsed.errors:
        return parsed
    seen: dict[tuple[str, str], int] = {}
    emails: dict[str, tuple[str | None, int]] = {}
    for number, values in lines:
        if not any(v.strip() for v in values):
            continue
        if len(parsed.rows) + len(parsed.errors) >= MAX_ROWS:
            raise ImportRefused(N_("the file has more than %(n)d rows", n=MAX_ROWS))
        row, problems = read_contact(number, dict(zip(header, values, strict=False)),
                                     parsed.columns)
        parsed.errors.extend(problems)
        if row is not None and not clashes(row, seen, emails, parsed.errors):
            parsed.rows.append(row)
    if not parsed.rows and not parsed.errors:
        raise ImportRefused(N_("the file has a header but no contacts"))
    return parsed


def clashes(row: ContactRow, seen: dict, emails: dict, errors: list[RowError]) -> bool:
    identity = (row.upn, row.contact_key or f"name:{row.name.lower()}")
    if identity in seen:
        errors.append(RowError(row.row, N_(
            "%(name)s is listed twice for UPN %(upn)s (rows %(first)d and %(again)d)",
            name=row.name, upn=row.upn, first=seen[identity], again=row.row)))
        return True
    seen[identity] = row.row
    if row.contact_key and row.contact_key.startswith("mis:"):
        earlier = emails.setdefault(row.contact_key, (row.email, row.row))
        if earlier[0] != row.email:
            errors.append(RowError(row.row, N_(
                "contact %(id)s has two email addresses (rows %(first)d and %(again)d)",
                id=row.contact_key[4:], first=earlier[1], again=row.row)))
            return True
    return False


@dataclass
class ContactsPlan:
    """What applying the export would change. `errors` non-empty means nothing may be applied."""

    parsed: ParsedContacts
    new: list[tuple[Pupil, ContactRow]] = field(default_factory=list)
    updated: list[tuple[Guardian, ContactRow]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    def summary(self) -> str:
        return N_("%(new)d new guardian(s), %(updated)d updated, %(unchanged)d unchanged",
                  new=len(self.new), updated=len(self.updated), unchanged=self.unchanged)

    def lines(self) -> list[str]:
        return ([N_("row %(row)d: new guardian %(name)s of %(upn)s", row=row.row, name=row.name,
                    upn=pupil.upn) for pupil, row in self.new]
                + [N_("row %(row)d: guardian %(name)s of %(upn)s updated", row=row.row,
                      name=row.name, upn=row.upn) for _guardian, row in self.updated])


def plan_contacts(session: Session, school_id: int, parsed: ParsedContacts) -> ContactsPlan:
    """Compare the export with the register: every pupil must be on it; a guardian is the same
    one when its contact key matches, or (for one typed by hand) its name."""
    plan = ContactsPlan(parsed=parsed, errors=list(parsed.errors))
    if plan.errors:
        return plan
    pupils = {p.upn: p for p in session.scalars(select(Pupil).where(Pupil.school_id == school_id))}
    guardians = defaultdict(list)
    for guardian in session.scalars(select(Guardian).where(Guardian.school_id == school_id)):
        guardians[guardian.pupil_id].append(guardian)
    for row in parsed.rows:
        pupil = pupils.get(row.upn)
        if pupil is None:
            plan.errors.append(RowError(row.row, N_(
                "no pupil with UPN %(upn)s in the register: import the pupils first",
                upn=row.upn)))
            continue
        existing = same_guardian(guardians[pupil.id], row)
        if existing is None:
            plan.new.append((pupil, row))
        elif differs(existing, row):
            plan.updated.append((existing, row))
        else:
            plan.unchanged += 1
    return plan


def same_guardian(candidates: list[Guardian], row: ContactRow) -> Guardian | None:
    by_key = next((g for g in candidates
                   if row.contact_key and g.contact_key == row.contact_key), None)
    return by_key or next((g for g in candidates if g.name.lower() == row.name.lower()
                           and g.contact_key in (None, row.contact_key)), None)


def differs(guardian: Guardian, row: ContactRow) -> bool:
    return (guardian.name, guardian.relationship_to_pupil, guardian.email, guardian.contact_key,
            guardian.parental_responsibility) != (row.name, row.relationship, row.email,
                                                  row.contact_key, row.parental_responsibility)


def apply_contacts(session: Session, school_id: int, plan: ContactsPlan) -> None:
    """Write the plan in the caller's transaction (refused when it has errors)."""
    if plan.errors:
        raise ValueError("a plan with errors is never applied")
    added = []
    for pupil, row in plan.new:
        added.append(Guardian(school_id=school_id, pupil_id=pupil.id, name=row.name,
                              relationship_to_pupil=row.relationship, email=row.email,
                              contact_key=row.contact_key,
                              parental_responsibility=row.parental_responsibility))
        session.add(added[-1])
    for guardian, row in plan.updated:
        if guardian.email != row.email:
            guardian.email_failed_at = None  # a new address is tried again
            if guardian.email:  # a link sent to the old one is not the guardian's to use now
                revoke_link(guardian)
        guardian.name, guardian.relationship_to_pupil, guardian.email = (
            row.name, row.relationship, row.email)
        guardian.contact_key = row.contact_key
        guardian.parental_responsibility = row.parental_responsibility
    session.flush()
    for guardian in added:
        link_named_records(session, guardian)


def siblings_of(session: Session, pupil: Pupil) -> list[Pupil]:
    """Other pupils of the school who share a guardian (by contact key) with this pupil."""
    keys = select(Guardian.contact_key).where(Guardian.pupil_id == pupil.id,
                                              Guardian.contact_key.is_not(None))
    sharing = select(Guardian.pupil_id).where(Guardian.school_id == pupil.school_id,
                                              Guardian.contact_key.in_(keys))
    return list(session.scalars(select(Pupil).where(Pupil.id.in_(sharing), Pupil.id != pupil.id)
                                .order_by(Pupil.id)))


def twins_of(session: Session, pupil: Pupil) -> list[Pupil]:
    """Siblings born on the same day as this pupil."""
    if pupil.date_of_birth is None:
        return []
    return [s for s in siblings_of(session, pupil) if s.date_of_birth == pupil.date_of_birth]


def sibling_groups(session: Session, school_id: int) -> list[set[int]]:
    """The school's pupils joined through shared guardians (a guardian of A and B, another of B and
    C: one group of three), each group of two or more pupil ids."""
    rows = session.execute(select(Guardian.contact_key, Guardian.pupil_id).where(
        Guardian.school_id == school_id, Guardian.contact_key.is_not(None))).all()
    parent: dict[int, int] = {}

    def root(ident: int) -> int:
        while parent.setdefault(ident, ident) != ident:
            ident = parent[ident]
        return ident

    first_of_key: dict[str, int] = {}
    for key, pupil_id in rows:
        other = first_of_key.setdefault(key, pupil_id)
        parent[root(pupil_id)] = root(other)
    groups: dict[int, set[int]] = defaultdict(set)
    for pupil_id in parent:
        groups[root(pupil_id)].add(pupil_id)
    return sorted((g for g in groups.values() if len(g) > 1), key=min)
