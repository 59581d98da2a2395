"""The MIS import: a CSV export of pupils checked row by row, then applied all at once or not.

Three steps, so that the command line and the web preview share them: `read_export` parses and
checks the file without a database; `plan_import` compares it with the register (what is new,
changed, leaving, rejoining, and which consent answers differ); `apply_import` writes the plan in
the caller's transaction. Nothing is applied when any row is invalid, and re-importing the same
file plans no change. Pupils missing from a full export are marked as leavers, never deleted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError
from stdnum.gb import upn as upn_format

from consent import rules
from consent.models import BiometricConsent, ConsentRecord, Pupil
from consent.services import (
    consent_facts,
    delete_reference_faces,
    giver_key,
    new_consent_record,
)

MAX_IMPORT_BYTES = 10 * 1024 * 1024  # a 2,000-pupil export with every column is about 200 KB
MAX_IMPORT_ROWS = 20_000
MAX_NAME_LENGTH = 100
OLDEST_PUPIL_YEARS = 25  # special schools teach to 25; an older date of birth is a typo
# A full export that drops more than half the roll is almost surely a partial one (one class,
# one year group): refuse it rather than mark hundreds of pupils as leavers and delete their faces.
MAX_LEAVER_SHARE = 0.5
LEAVER_GUARD_MIN_ROLL = 20
MIS_GIVER = "MIS export"  # who gave the consent answers a MIS column carries
YEAR_GROUPS = ("N1", "N2", "R", *(str(n) for n in range(1, 15)))
YES, NO = frozenset({"yes", "y"}), frozenset({"no", "n"})
FIELDS = ("upn", "first_name", "last_name", "date_of_birth", "year_group")
# Header names per field, best first: the DESIGN.md contract, then SIMS and Arbor exports.
HEADER_NAMES = {
    "upn": ("upn", "unique pupil number", "pupil upn", "student upn"),
    "first_name": ("first_name", "legal forename", "forename", "legal first name", "first name",
                   "preferred forename", "given name"),
    "last_name": ("last_name", "legal surname", "surname", "legal last name", "last name",
                  "preferred surname", "family name"),
    "date_of_birth": ("date_of_birth", "date of birth", "dob", "birth date"),
    "year_group": ("year_group", "nc year actual", "year group", "current year group",
                   "national curriculum year", "nc year", "year"),
}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


class ImportRefused(ValueError):
    """The file as a whole cannot be read (size, encoding, no header)."""


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet row: the header is row 1
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass(frozen=True)
class PupilRow:
    row: int
    upn: str
    first_name: str
    last_name: str
    date_of_birth: dt.date
    year_group: str
    consents: tuple[tuple[str, str], ...] = ()  # (purpose, "yes" | "no") for non-empty cells
    biometric: str | None = None  # "yes" | "no" | None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class ParsedExport:
    rows: list[PupilRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field → the file's header name
    ignored: list[str] = field(default_factory=list)  # consent columns of unknown purposes


def header_key(name: str) -> str:
    """`Legal Surname`, `legal_surname` and ` LEGAL-SURNAME ` all read as `legal surname`."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def normalise_year_group(value: str) -> str | None:
    """`Year 5`, `Y5`, `05` → `5`; `Reception`, `YR` → `R`; `N1`, `Nursery 2`; else None."""
    text = header_key(value).upper().replace(" ", "")
    if text in ("R", "YR", "YEARR", "REC", "RECEPTION"):
        return "R"
    nursery = re.fullmatch(r"(?:N|NURSERY)([12])", text)
    if nursery:
        return f"N{nursery.group(1)}"
    year = re.fullmatch(r"(?:YEAR|Y)?(\d{1,2})", text)
    if year and 1 <= int(year.group(1)) <= 14:
        return str(int(year.group(1)))
    return None


def parse_date(value: str) -> dt.date | None:
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


def upn_problem(value: str) -> str | None:
    """Why a UPN is invalid (length, format, local authority code, check letter), or None."""
    try:
        upn_format.validate(value)
    except InvalidLength:
        return f"UPN {value} is not 13 characters long"
    except InvalidComponent:
        return f"UPN {value} has an unknown local authority code {value[1:4]}"
    except InvalidChecksum:
        return f"UPN {value} has the wrong check letter"
    except ValidationError:
        return f"UPN {value} is not a UPN (a letter, 11 digits, then a digit or letter)"
    return None


def decode(data: bytes) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # SIMS writes Windows-1252


def map_columns(header: list[str], purposes: Iterable[str]) -> ParsedExport:
    """Which column holds each field, consent answer and the biometric answer."""
    parsed = ParsedExport()
    keys: dict[str, str] = {}
    for name in header:
        keys.setdefault(header_key(name), name)  # the first of duplicate names wins
    for name in FIELDS:
        found = next((keys[header_key(alias)] for alias in HEADER_NAMES[name]
                      if header_key(alias) in keys), None)
        if found is None:
            parsed.errors.append(RowError(1, f"no column for {name} (expected a header such as "
                                             f"{', '.join(HEADER_NAMES[name][:3])})"))
        else:
            parsed.columns[name] = found
    for key, name in keys.items():
        if key.startswith("consent "):
            purpose = key.removeprefix("consent ").replace(" ", "_")
            if purpose in purposes:
                parsed.columns[f"consent_{purpose}"] = name
            else:
                parsed.ignored.append(name)
        elif key == "biometric consent":
            parsed.columns["biometric_consent"] = name
    return parsed


def answer(value: str, column: str) -> tuple[str | None, str | None]:
    """A yes/no/empty cell as ("yes" | "no" | None, error)."""
    text = value.strip().lower()
    if not text:
        return None, None
    if text in YES:
        return "yes", None
    if text in NO:
        return "no", None
    return None, f"{column} is yes, no or empty, not {value.strip()!r}"


def read_row(number: int, cells: dict[str, str], parsed: ParsedExport, today: dt.date):
    """One data row as a PupilRow, or its problems."""
    def cell(name: str) -> str:
        return " ".join(cells.get(parsed.columns.get(name, ""), "").split())

    problems = []
    upn = upn_format.compact(cell("upn"))
    if not upn:
        problems.append("UPN missing")
    elif problem := upn_problem(upn):
        problems.append(problem)
    names = {}
    for name, label in (("first_name", "first name"), ("last_name", "last name")):
        names[name] = cell(name)
        if not names[name]:
            problems.append(f"{label} missing")
        elif len(names[name]) > MAX_NAME_LENGTH:
            problems.append(f"{label} longer than {MAX_NAME_LENGTH} characters")
    born = parse_date(cell("date_of_birth"))
    if not cell("date_of_birth"):
        problems.append("date of birth missing")
    elif born is None:
        problems.append(f"date of birth {cell('date_of_birth')!r} is not a date "
                        "(use YYYY-MM-DD or DD/MM/YYYY)")
    elif born > today:
        problems.append(f"date of birth {born:%d/%m/%Y} is in the future")
    elif born.year < today.year - OLDEST_PUPIL_YEARS:
        problems.append(f"date of birth {born:%d/%m/%Y} is more than "
                        f"{OLDEST_PUPIL_YEARS} years ago")
    year = normalise_year_group(cell("year_group"))
    if year is None:
        problems.append(f"year group {cell('year_group')!r} is not one of N1, N2, R, 1-14")
    consents = []
    for column, header in parsed.columns.items():
        if column.startswith("consent_") or column == "biometric_consent":
            value, problem = answer(cells.get(header, ""), column)
            if problem:
                problems.append(problem)
            elif value is not None:
                consents.append((column, value))
    if problems:
        return None, [RowError(number, "; ".join(problems))]
    biometric = dict(consents).pop("biometric_consent", None)
    return PupilRow(
        row=number, upn=upn, first_name=names["first_name"], last_name=names["last_name"],
        date_of_birth=born, year_group=year, biometric=biometric,
        consents=tuple((c.removeprefix("consent_"), v) for c, v in consents
                       if c != "biometric_consent"),
    ), []


def read_export(data: bytes, purposes: Iterable[str], today: dt.date) -> ParsedExport:
    """Parse and check an export: every row's problems, and duplicate UPNs across rows."""
    text = decode(data)
    lines = csv.reader(io.StringIO(text, newline=""))
    header = next(lines, None)
    if not header or not any(h.strip() for h in header):
        raise ImportRefused("the file is empty: expected a header row and one row per pupil")
    parsed = map_columns(header, tuple(purposes))
    if parsed.errors:
        return parsed
    first_row: dict[str, int] = {}
    for values in lines:
        if not any(v.strip() for v in values):
            continue
        if len(parsed.rows) + len(parsed.errors) >= MAX_IMPORT_ROWS:
            raise ImportRefused(f"the file has more than {MAX_IMPORT_ROWS} rows")
        number = lines.line_num
        row, problems = read_row(number, dict(zip(header, values, strict=False)), parsed, today)
        parsed.errors.extend(problems)
        if row is None:
            continue
        if row.upn in first_row:
            parsed.errors.append(RowError(number, f"UPN {row.upn} appears twice "
                                                  f"(rows {first_row[row.upn]} and {number})"))
            continue
        first_row[row.upn] = number
        parsed.rows.append(row)
    if not parsed.rows and not parsed.errors:
        raise ImportRefused("the file has a header but no pupils")
    return parsed


@dataclass
class ImportPlan:
    """What applying the export would change. `errors` non-empty means nothing may be applied."""

    parsed: ParsedExport
    full: bool
    new: list[PupilRow] = field(default_factory=list)
    updated: list[tuple[Pupil, PupilRow, dict[str, tuple[str, str]]]] = field(default_factory=list)
    rejoining: list[tuple[Pupil, PupilRow]] = field(default_factory=list)
    leaving: list[Pupil] = field(default_factory=list)
    consents: list[tuple[PupilRow, str, str]] = field(default_factory=list)  # row, purpose, status
    biometrics: list[tuple[PupilRow, str]] = field(default_factory=list)  # row, status
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changes(self) -> int:
        return (len(self.new) + len(self.updated) + len(self.rejoining) + len(self.leaving)
                + len(self.consents) + len(self.biometrics))

    def summary(self) -> str:
        return (f"{len(self.parsed.rows)} pupils in the file: {len(self.new)} new, "
                f"{len(self.updated)} updated, {self.unchanged} unchanged, "
                f"{len(self.rejoining)} rejoining, {len(self.leaving)} leaving; "
                f"{len(self.consents)} consent and {len(self.biometrics)} biometric answers "
                "changed")

    def lines(self) -> list[str]:
        """One line per change, in the order of the file, then the leavers."""
        out = [f"row {r.row}: new pupil {r.upn} {r.full_name}, year {r.year_group}"
               for r in self.new]
        for pupil, row, diff in self.updated:
            what = ", ".join(f"{k.replace('_', ' ')} {a} → {b}" for k, (a, b) in diff.items())
            out.append(f"row {row.row}: {pupil.upn} {row.full_name}: {what}")
        out += [f"row {row.row}: {pupil.upn} {row.full_name} rejoins (was marked as left)"
                for pupil, row in self.rejoining]
        out += [f"row {row.row}: {row.upn} {purpose.replace('_', ' ')}: {status}"
                for row, purpose, status in self.consents]
        out += [f"row {row.row}: {row.upn} biometric consent: {status}"
                for row, status in self.biometrics]
        out += [f"not in the file: {p.upn} {p.full_name}, year {p.year_group}: marked as left"
                for p in self.leaving]
        return sorted(out, key=_row_order)


def _row_order(line: str) -> tuple[int, int]:
    match = re.match(r"row (\d+):", line)
    return (0, int(match.group(1))) if match else (1, 0)


def current_answers(session: Session, school_id: int, today: dt.date):
    """What the MIS said last time, per pupil: consent answers per purpose, and biometric status."""
    records: dict[int, list[ConsentRecord]] = {}
    for record in session.scalars(
        select(ConsentRecord).where(ConsentRecord.school_id == school_id,
                                    ConsentRecord.source == "import")
    ):
        records.setdefault(record.pupil_id, []).append(record)
    giver = giver_key(MIS_GIVER, "parent")
    consents = {pid: consent_facts(rs) for pid, rs in records.items()}
    biometric: dict[int, str] = {}
    for pupil_id, status in session.execute(
        select(BiometricConsent.pupil_id, BiometricConsent.status)
        .where(BiometricConsent.school_id == school_id, BiometricConsent.given_by == MIS_GIVER)
        .order_by(BiometricConsent.id)
    ):
        biometric[pupil_id] = status

    def consent_answer(pupil_id: int | None, purpose: str) -> str:
        facts = consents.get(pupil_id, ()) if pupil_id else ()
        return rules.giver_answer(facts, giver, purpose, today)

    return consent_answer, biometric


def _differences(pupil: Pupil, row: PupilRow) -> dict[str, tuple[str, str]]:
    diff = {}
    for name in ("first_name", "last_name", "year_group"):
        if getattr(pupil, name) != getattr(row, name):
            diff[name] = (getattr(pupil, name), getattr(row, name))
    if pupil.date_of_birth != row.date_of_birth:
        old = pupil.date_of_birth.strftime("%d/%m/%Y") if pupil.date_of_birth else "none"
        diff["date_of_birth"] = (old, row.date_of_birth.strftime("%d/%m/%Y"))
    return diff


def plan_import(
    session: Session, school_id: int, parsed: ParsedExport, today: dt.date, *, full: bool = True
) -> ImportPlan:
    """Compare a checked export with the register: the changes applying it would make."""
    plan = ImportPlan(parsed=parsed, full=full, errors=list(parsed.errors))
    if not plan.ok:
        return plan
    pupils = {p.upn: p for p in session.scalars(select(Pupil).where(Pupil.school_id == school_id))}
    consent_answer, biometric = current_answers(session, school_id, today)
    for row in parsed.rows:
        pupil = pupils.get(row.upn)
        if pupil is None:
            plan.new.append(row)
        else:
            diff = _differences(pupil, row)
            if diff:
                plan.updated.append((pupil, row, diff))
            if pupil.left_on is not None and pupil.left_on <= today:
                plan.rejoining.append((pupil, row))
            if not diff and not (pupil.left_on is not None and pupil.left_on <= today):
                plan.unchanged += 1
        pupil_id = pupil.id if pupil is not None else None
        for purpose, said in row.consents:
            status = rules.status_for_answer(consent_answer(pupil_id, purpose), said)
            if status is not None:
                plan.consents.append((row, purpose, status))
        if row.biometric is not None:
            status = rules.biometric_status_for_answer(biometric.get(pupil_id), row.biometric)
            if status is not None:
                plan.biometrics.append((row, status))
    if full:
        plan_leavers(plan, pupils.values(), today)
    return plan


def plan_leavers(plan: ImportPlan, pupils: Iterable[Pupil], today: dt.date) -> None:
    """Pupils on roll but missing from a full export leave; refuse what looks like a partial one."""
    in_file = {row.upn for row in plan.parsed.rows}
    on_roll = [p for p in pupils if p.left_on is None or p.left_on > today]
    plan.leaving = sorted((p for p in on_roll if p.upn not in in_file),
                          key=lambda p: (p.last_name, p.first_name))
    too_many = len(plan.leaving) > MAX_LEAVER_SHARE * len(on_roll)
    if too_many and len(on_roll) >= LEAVER_GUARD_MIN_ROLL:
        plan.errors.append(RowError(1, (
            f"this file would mark {len(plan.leaving)} of the {len(on_roll)} pupils on roll as "
            "leavers: it looks like a partial export. Import it as a partial export (pupils "
            "missing from it are then left as they are), or export the whole school."
        )))


@dataclass
class ImportResult:
    pupils: dict[str, Pupil]  # by UPN, every pupil of the file
    left: list[tuple[Pupil, int]] = field(default_factory=list)  # leaver, faces deleted
    refused: list[tuple[Pupil, str, str]] = field(default_factory=list)  # pupil, purpose, status
    faces_deleted: list[tuple[Pupil, int]] = field(default_factory=list)  # biometric "no"
    records: int = 0


def apply_import(
    session: Session, school_id: int, plan: ImportPlan, *, recorded_by: str, today: dt.date,
    purposes: Iterable[str],
) -> ImportResult:
    """Write a checked plan in the caller's transaction (which owns audit and commit)."""
    if not plan.ok:
        raise ValueError("an import plan with errors cannot be applied")
    purposes = tuple(purposes)
    pupils = {p.upn: p for p in session.scalars(select(Pupil).where(Pupil.school_id == school_id))}
    added = [Pupil(school_id=school_id, upn=r.upn, first_name=r.first_name, last_name=r.last_name,
                   date_of_birth=r.date_of_birth, year_group=r.year_group) for r in plan.new]
    session.add_all(added)
    for pupil, row, diff in plan.updated:
        for name in diff:
            setattr(pupil, name, getattr(row, name))
    for pupil, _row in plan.rejoining:
        pupil.left_on = None
    session.flush()
    pupils.update((p.upn, p) for p in added)
    result = ImportResult(pupils={r.upn: pupils[r.upn] for r in plan.parsed.rows})
    for pupil in plan.leaving:
        pupil.left_on = today
        result.left.append((pupil, delete_reference_faces(session, pupil)))
    records: list[ConsentRecord | BiometricConsent] = []
    new_upns = {row.upn for row in plan.new}  # new pupils have no posts and no faces yet
    for row, purpose, status in plan.consents:
        pupil = pupils[row.upn]
        records.append(new_consent_record(
            pupil, purpose, status, given_by=MIS_GIVER, recorded_by=recorded_by,
            effective_from=today, source="import", purposes=purposes, today=today,
        ))
        if status != "granted" and row.upn not in new_upns:
            result.refused.append((pupil, purpose, status))
    for row, status in plan.biometrics:
        pupil = pupils[row.upn]
        records.append(BiometricConsent(
            school_id=school_id, pupil_id=pupil.id, status=status, given_by=MIS_GIVER,
            relationship_to_pupil="parent", evidence_ref="MIS export", recorded_by=recorded_by,
        ))
        if status != "granted" and row.upn not in new_upns:
            result.faces_deleted.append((pupil, delete_reference_faces(session, pupil)))
    session.add_all(records)
    session.flush()
    result.records = len(records)
    return result
