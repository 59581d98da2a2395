"""The MIS import: a CSV export of pupils checked row by row, then applied all at once or not.

Three steps, so that the command line and the web preview share them: `read_export` parses and
checks the file without a database; `plan_import` compares it with the register (what is new,
changed, leaving, rejoining, and which consent answers differ); `apply_import` writes the plan in
the caller's transaction. Nothing is applied when any row is invalid, and re-importing the same
file plans no change. Pupils missing from a full export are marked as leavers, never deleted.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError
from stdnum.gb import upn as upn_format

from consent import rules
from consent.models import BiometricConsent, ConsentRecord, ImportBatch, Pupil, utcnow
from consent.services import (
    RegisterError,
    consent_facts,
    delete_reference_faces,
    giver_key,
    new_consent_record,
    seal_reference_faces,
    sealed_face_ids,
    unseal_reference_faces,
)
from consent.wording import N_, joined, reread

MAX_IMPORT_BYTES = 10 * 1024 * 1024  # a 2,000-pupil export with every column is about 200 KB
MAX_IMPORT_ROWS = 20_000
MAX_NAME_LENGTH = 100
OLDEST_PUPIL_YEARS = 25  # special schools teach to 25; an older date of birth is a typo
# Between two whole-school exports a few pupils leave. A file that would make more than this
# share of the roll leavers is most likely a partial export (one class, one year group; a file of
# two rows once made 12 of 14 pupils leavers): it is refused unless the person importing confirms
# it as a whole-school export by typing the number of leavers. Config LEAVER_SHARE_LIMIT overrides.
LEAVER_SHARE_LIMIT = 0.10
# Leavers' reference faces are sealed (out of screening at once) and deleted by the retention task
# after this many days; until then the import can be undone, faces and all. The Protection of
# Freedoms Act 2012 asks for deletion "as soon as reasonably practicable": a week lets a mistaken
# import be noticed and undone. Config LEAVER_GRACE_DAYS overrides.
LEAVER_GRACE_DAYS = 7
MIS_GIVER = "MIS export"  # who gave the consent answers a MIS column carries
YEAR_GROUPS = ("N1", "N2", "R", *(str(n) for n in range(1, 15)))
YES, NO = frozenset({"yes", "y"}), frozenset({"no", "n"})
FIELDS = ("upn", "first_name", "last_name", "date_of_birth", "year_group")
# Columns an export may leave out. A pupil first registered under a temporary UPN (its last
# character a letter) is given a permanent one later; the MIS keeps the old one as the Former UPN
# (SIMS and Arbor export it). With it, the import renumbers the pupil, consent and reference
# photos kept; without it, the pupil would leave and come back as someone new.
OPTIONAL_FIELDS = ("former_upn",)
# What an import changes, in numbers: its batch keeps this in English (batch_summary says it again).
IMPORT_SUMMARY = N_("%(rows)d pupils in the file: %(new)d new, %(updated)d updated, %(unchanged)d "
                    "unchanged, %(rejoining)d rejoining, %(leaving)d leaving; %(consents)d consent "
                    "and %(biometrics)d biometric answers changed")
# The fields an import changes, in words for its list of changes.
FIELD_WORDS = {"upn": N_("UPN"), "first_name": N_("first name"), "last_name": N_("last name"),
               "date_of_birth": N_("date of birth"), "year_group": N_("year group")}
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
    "former_upn": ("former_upn", "former upn", "previous upn", "old upn"),
}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")
# Well-formed multi-byte UTF-8 sequences (RFC 3629). A file that is not valid UTF-8 yet holds some
# is UTF-8 with stray Windows-1252 bytes (edited by two programs): read either way, names garble.
UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}")
LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# Excel saves "CSV" with semicolons where the comma is the decimal point (a laptop set to a
# European language), and some MIS reports export tab-separated text: a header row with no comma
# but one of these is read with it.
OTHER_DELIMITERS = (";", "\t")
UTF16_SAMPLE = 4096  # bytes looked at for NULs: UTF-16 text is about half NUL bytes
# Local authorities whose UPNs python-stdnum's list of codes leaves out: every Welsh authority
# (660-681) and England's unitary authorities made since 2019 (Dorset 838, Bournemouth,
# Christchurch and Poole 839, North and West Northamptonshire 940 and 941, Cumberland 942,
# Westmorland and Furness 943). Without them a Welsh school could import none of its pupils.
LA_CODES_STDNUM_LACKS = frozenset(
    {str(code) for code in range(660, 682)} | {"838", "839", "940", "941", "942", "943"})
# Control characters a cell may not hold (C0, DEL, C1): never stored, and PostgreSQL refuses a NUL.
# Tab and line breaks are whitespace that reading a cell turns into single spaces.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What an unreadable byte becomes: one of the five bytes Windows-1252 leaves undefined (0x81, 0x8D,
# 0x8F, 0x90, 0x9D), or a file that already held it. A name is never stored with it.
UNREADABLE = "\ufffd"
# What Excel's "CSV (Comma delimited)" and SIMS write for a letter Windows-1252 lacks: Welsh ŵ and
# ŷ (Llŷr becomes Ll?r). No name holds a question mark, so a name with one is refused.
LOST_LETTER = "?"


class ImportRefused(ValueError):
    """The file as a whole cannot be read (size, encoding, no header)."""


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet row: the header is row 1
    message: str  # a consent.wording.Message

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"

    @property
    def text(self) -> str:
        """The row and its problem, as a message a page says in the reader's language."""
        return N_("row %(row)d: %(problem)s", row=self.row, problem=self.message)


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
    former_upn: str = ""  # the UPN the MIS had before this one, if the export says so

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
        return N_("UPN %(upn)s is not 13 characters long", upn=value)
    except InvalidComponent:  # length and format were checked first: the check letter is left
        if value[1:4] not in LA_CODES_STDNUM_LACKS:
            return N_("UPN %(upn)s has an unknown local authority code %(code)s", upn=value,
                      code=value[1:4])
        if upn_format.calc_check_digit(value[1:]) != value[0]:
            return N_("UPN %(upn)s has the wrong check letter", upn=value)
    except InvalidChecksum:
        return N_("UPN %(upn)s has the wrong check letter", upn=value)
    except ValidationError:
        return N_("UPN %(upn)s is not a UPN (a letter, 11 digits, then a digit or letter)",
                  upn=value)
    return None


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without a byte order mark), else Windows-1252 as SIMS writes
    it. Refused: too large, UTF-16, and UTF-8 mixed with Windows-1252 bytes."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(N_("the file is larger than %(mb)d MB",
                               mb=MAX_IMPORT_BYTES // (1024 * 1024)))
    sample = data[:UTF16_SAMPLE]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
            len(sample) >= 2 and sample.count(0) * 4 >= len(sample)):
        raise ImportRefused(N_("the file is UTF-16: save it as UTF-8 (CSV)"))
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        if UTF8_MULTIBYTE.search(data):  # a byte order mark counts: it says UTF-8
            row = len(LINE_BREAK.findall(body, 0, error.start)) + 1
            raise ImportRefused(N_("not valid UTF-8 at row %(row)d: export the file as UTF-8",
                                   row=row)) from None
    return body.decode("cp1252", errors="replace")  # SIMS writes Windows-1252


def delimiter_of(text: str) -> str:
    """The comma, unless the header row has none and is separated by a semicolon or tab."""
    header = re.split(r"[\r\n]", text, maxsplit=1)[0]
    found = [d for d in OTHER_DELIMITERS if d in header]
    if "," in header or not found:
        return ","
    return max(found, key=header.count)


def csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each row of the CSV text with its row number (the header is row 1; a row with line breaks
    in a quoted cell is numbered by its last line). A row the csv module cannot read refuses the
    file, naming the row where it starts."""
    lines = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text))
    while True:
        start = lines.line_num + 1
        try:
            values = next(lines)
        except StopIteration:
            return
        except csv.Error as error:
            if "field limit" in str(error):
                raise ImportRefused(N_(
                    "row %(row)d has a field longer than %(n)d characters (a quote that is "
                    "never closed?)", row=start, n=csv.field_size_limit())) from None
            raise ImportRefused(N_("row %(row)d cannot be read as CSV", row=start)) from None
        yield lines.line_num, values


def control_problems(cells: dict[str, str], columns: Iterable[str]) -> list[str]:
    """A problem for each of these columns whose cell holds a control character (a NUL, an
    escape), naming the column and the character."""
    problems = []
    for column in dict.fromkeys(columns):
        found, name = CONTROL.search(cells.get(column, "")), CONTROL.sub("", column).strip()
        if found:
            code = f"U+{ord(found.group()):04X}"
            problems.append(N_("%(column)s contains a control character (%(code)s)",
                               column=name, code=code))
        elif UNREADABLE in cells.get(column, ""):
            problems.append(N_("%(column)s contains a byte that is no character in UTF-8 or "
                               "Windows-1252: check the spelling in the MIS and export again",
                               column=name))
    return problems


def header_problems(header: list[str]) -> list[RowError]:
    """The header row's control characters, as its row error."""
    problems = control_problems(dict(zip(header, header, strict=True)), header)
    return [RowError(1, joined(problems))] if problems else []


def map_columns(header: list[str], purposes: Iterable[str]) -> ParsedExport:
    """Which column holds each field, consent answer and the biometric answer."""
    parsed = ParsedExport()
    keys: dict[str, str] = {}
    for name in header:
        keys.setdefault(header_key(name), name)  # the first of duplicate names wins
    for name in (*FIELDS, *OPTIONAL_FIELDS):
        found = next((keys[header_key(alias)] for alias in HEADER_NAMES[name]
                      if header_key(alias) in keys), None)
        if found is not None:
            parsed.columns[name] = found
        elif name in FIELDS:
            parsed.errors.append(RowError(1, N_(
                "no column for %(field)s (expected a header such as %(names)s)",
                field=name, names=", ".join(HEADER_NAMES[name][:3]))))
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
    return None, N_("%(column)s is yes, no or empty, not %(value)r", column=column,
                    value=value.strip())


def read_row(number: int, cells: dict[str, str], parsed: ParsedExport, today: dt.date):
    """One data row as a PupilRow, or its problems."""
    def cell(name: str) -> str:
        return " ".join(cells.get(parsed.columns.get(name, ""), "").split())

    problems = control_problems(cells, parsed.columns.values())
    upn = upn_format.compact(cell("upn"))
    if not upn:
        problems.append(N_("UPN missing"))
    elif problem := upn_problem(upn):
        problems.append(problem)
    former = upn_format.compact(cell("former_upn"))
    if former == upn:
        former = ""
    elif former and (problem := upn_problem(former)):
        problems.append(N_("former UPN: %(problem)s", problem=problem))
    names = {}
    for name, label in (("first_name", N_("first name")), ("last_name", N_("last name"))):
        names[name] = cell(name)
        if not names[name]:
            problems.append(N_("%(field)s missing", field=label))
        elif len(names[name]) > MAX_NAME_LENGTH:
            problems.append(N_("%(field)s longer than %(n)d characters", field=label,
                               n=MAX_NAME_LENGTH))
        elif LOST_LETTER in names[name]:
            problems.append(N_("%(field)s %(value)r holds a question mark where the export could "
                               "not write a letter (ŵ, ŷ): save the file as CSV UTF-8 and import "
                               "it again", field=label, value=names[name]))
    born = parse_date(cell("date_of_birth"))
    if not cell("date_of_birth"):
        problems.append(N_("date of birth missing"))
    elif born is None:
        problems.append(N_("date of birth %(value)r is not a date (use YYYY-MM-DD or DD/MM/YYYY)",
                           value=cell("date_of_birth")))
    elif born > today:
        problems.append(N_("date of birth %(date)s is in the future",
                           date=born.strftime("%d/%m/%Y")))
    elif born.year < today.year - OLDEST_PUPIL_YEARS:
        problems.append(N_("date of birth %(date)s is more than %(n)d years ago",
                           date=born.strftime("%d/%m/%Y"), n=OLDEST_PUPIL_YEARS))
    year = normalise_year_group(cell("year_group"))
    if year is None:
        problems.append(N_("year group %(value)r is not one of N1, N2, R, 1-14",
                           value=cell("year_group")))
    consents = []
    for column, header in parsed.columns.items():
        if column.startswith("consent_") or column == "biometric_consent":
            value, problem = answer(cells.get(header, ""), column)
            if problem:
                problems.append(problem)
            elif value is not None:
                consents.append((column, value))
    if problems:
        return None, [RowError(number, joined(problems))]
    biometric = dict(consents).pop("biometric_consent", None)
    return PupilRow(
        row=number, upn=upn, first_name=names["first_name"], last_name=names["last_name"],
        date_of_birth=born, year_group=year, biometric=biometric, former_upn=former,
        consents=tuple((c.removeprefix("consent_"), v) for c, v in consents
                       if c != "biometric_consent"),
    ), []


def read_export(data: bytes, purposes: Iterable[str], today: dt.date) -> ParsedExport:
    """Parse and check an export: every row's problems, and duplicate UPNs across rows."""
    lines = csv_rows(decode(data))
    _number, header = next(lines, (1, None))
    if not header or not any(h.strip() for h in header):
        raise ImportRefused(N_("the file is empty: expected a header row and one row per pupil"))
    parsed = map_columns(header, tuple(purposes))
    parsed.errors[:0] = header_problems(header)
    if parsed.errors:
        return parsed
    first_row: dict[str, int] = {}
    for number, values in lines:
        if not any(v.strip() for v in values):
            continue
        if len(parsed.rows) + len(parsed.errors) >= MAX_IMPORT_ROWS:
            raise ImportRefused(N_("the file has more than %(n)d rows", n=MAX_IMPORT_ROWS))
        row, problems = read_row(number, dict(zip(header, values, strict=False)), parsed, today)
        parsed.errors.extend(problems)
        if row is None:
            continue
        if row.upn in first_row:
            parsed.errors.append(RowError(number, N_(
                "UPN %(upn)s appears twice (rows %(first)d and %(again)d)", upn=row.upn,
                first=first_row[row.upn], again=number)))
            continue
        first_row[row.upn] = number
        parsed.rows.append(row)
    if not parsed.rows and not parsed.errors:
        raise ImportRefused(N_("the file has a header but no pupils"))
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
    renumbered: list[tuple[Pupil, PupilRow]] = field(default_factory=list)  # by Former UPN
    # New pupils with the name and date of birth of a pupil the file leaves out: perhaps one
    # pupil whose UPN the MIS replaced, exported without its Former UPN column.
    lookalikes: list[tuple[PupilRow, Pupil]] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)  # renumberings to look at twice
    consents: list[tuple[PupilRow, str, str]] = field(default_factory=list)  # row, purpose, status
    biometrics: list[tuple[PupilRow, str]] = field(default_factory=list)  # row, status
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    on_roll: int = 0  # pupils on roll before the import (the leaver share's denominator)
    leaver_limit: float = LEAVER_SHARE_LIMIT
    confirmed_leavers: int | None = None  # the number the person importing typed, if any
    batch_id: int | None = None  # set once applied: the batch an undo names

    @property
    def upns_in_file(self) -> set[str]:
        """The register's UPNs the file holds: its rows', and those its Former UPNs renumber."""
        return {row.upn for row in self.parsed.rows} | {p.upn for p, _ in self.renumbered}

    @property
    def leavers_need_confirmation(self) -> bool:
        """More than the limit's share of the roll would leave: only a typed number lets it."""
        return too_many_leavers(len(self.leaving), self.on_roll, self.leaver_limit)

    @property
    def refused(self) -> bool:
        """Refused as a whole: too many leavers and not confirmed with exactly their number, or a
        number typed that is not the number of leavers (whoever typed it expected another file)."""
        if self.errors:
            return False  # nothing was compared: the rows' problems come first
        if self.confirmed_leavers is None:
            return self.leavers_need_confirmation
        return self.confirmed_leavers != len(self.leaving)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.refused

    def refusal(self) -> str:
        """Why the plan is refused (empty when it is not), naming the number to type."""
        if not self.refused:
            return ""
        counts = {"n": len(self.leaving), "m": self.on_roll}
        if self.leavers_need_confirmation:
            why = N_("this file would make %(n)d of %(m)d pupils leavers (more than %(limit)s): "
                     "if it is a whole-school export, confirm by typing %(n)d; if it is not, "
                     "import it as a partial export", limit=format(self.leaver_limit, ".0%"),
                     **counts)
        else:
            why = N_("this file would make %(n)d of %(m)d pupils leavers: if it is a whole-school "
                     "export, confirm by typing %(n)d; if it is not, import it as a partial "
                     "export", **counts)
        if self.confirmed_leavers is None:
            return why
        return N_("%(typed)d leavers were confirmed but %(why)s", typed=self.confirmed_leavers,
                  why=why)

    @property
    def changes(self) -> int:
        return (len(self.new) + len(self.updated) + len(self.rejoining) + len(self.leaving)
                + len(self.consents) + len(self.biometrics))

    def summary(self) -> str:
        return N_(IMPORT_SUMMARY, rows=len(self.parsed.rows), new=len(self.new),
                  updated=len(self.updated), unchanged=self.unchanged,
                  rejoining=len(self.rejoining), leaving=len(self.leaving),
                  consents=len(self.consents), biometrics=len(self.biometrics))

    def warnings(self) -> list[str]:
        """What the person importing should check before applying: new pupils who may be pupils
        of the register under a UPN the MIS replaced."""
        found = [N_("row %(row)d: new pupil %(upn)s %(name)s has the name and date of birth of "
                    "%(old)s, who is not in the file: if the MIS gave them a new UPN, export "
                    "again with the Former UPN column, so that their consent and reference "
                    "photos stay with them", row=row.row, upn=row.upn, name=row.full_name,
                    old=pupil.upn) for row, pupil in self.lookalikes]
        return found + self.doubts

    def lines(self) -> list[str]:
        """One line per change, in the order of the file, then the leavers."""
        out = [N_("row %(row)d: new pupil %(upn)s %(name)s, year %(year)s", row=r.row, upn=r.upn,
                  name=r.full_name, year=r.year_group) for r in self.new]
        for _pupil, row, diff in self.updated:
            what = joined((N_("%(field)s %(old)s → %(new)s", field=FIELD_WORDS.get(k, k), old=a,
                              new=b) for k, (a, b) in diff.items()), ", ")
            out.append(N_("row %(row)d: %(upn)s %(name)s: %(changes)s", row=row.row,
                          upn=row.upn, name=row.full_name, changes=what))
        out += [N_("row %(row)d: %(upn)s %(name)s rejoins (was marked as left)", row=row.row,
                   upn=pupil.upn, name=row.full_name) for pupil, row in self.rejoining]
        out += [N_("row %(row)d: %(upn)s %(purpose)s: %(status)s", row=row.row, upn=row.upn,
                   purpose=rules.purpose_words(purpose), status=rules.status_words(status))
                for row, purpose, status in self.consents]
        out += [N_("row %(row)d: %(upn)s biometric consent: %(status)s", row=row.row,
                   upn=row.upn, status=rules.status_words(status))
                for row, status in self.biometrics]
        out += [N_("not in the file: %(upn)s %(name)s, year %(year)s: marked as left",
                   upn=p.upn, name=p.full_name, year=p.year_group) for p in self.leaving]
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
    for name in ("upn", "first_name", "last_name", "year_group"):
        if getattr(pupil, name) != getattr(row, name):
            diff[name] = (getattr(pupil, name), getattr(row, name))
    if pupil.date_of_birth != row.date_of_birth:
        old = pupil.date_of_birth.strftime("%d/%m/%Y") if pupil.date_of_birth else "none"
        diff["date_of_birth"] = (old, row.date_of_birth.strftime("%d/%m/%Y"))
    return diff


def plan_import(
    session: Session, school_id: int, parsed: ParsedExport, today: dt.date, *, full: bool = True,
    leaver_limit: float = LEAVER_SHARE_LIMIT, confirmed_leavers: int | None = None,
) -> ImportPlan:
    """Compare a checked export with the register: the changes applying it would make.

    `confirmed_leavers` is the number of leavers the person importing typed: a plan that would
    make more than `leaver_limit` of the roll leavers is refused unless it is exactly that number.
    """
    if not 0 <= leaver_limit <= 1:
        raise ValueError("the leaver share limit is between 0 and 1")
    plan = ImportPlan(parsed=parsed, full=full, errors=list(parsed.errors),
                      leaver_limit=leaver_limit, confirmed_leavers=confirmed_leavers)
    if plan.errors:
        return plan
    pupils = {p.upn: p for p in session.scalars(select(Pupil).where(Pupil.school_id == school_id))}
    consent_answer, biometric = current_answers(session, school_id, today)
    for row in parsed.rows:
        pupil = pupils.get(row.upn) or renumbering(plan, row, pupils)
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
    plan_leavers(plan, pupils.values(), today)
    plan_lookalikes(plan, pupils.values())
    return plan


def renumbering(plan: ImportPlan, row: PupilRow, pupils: dict[str, Pupil]) -> Pupil | None:
    """The pupil a row's Former UPN names, when that pupil is not in the file as well, and no
    other row claims them (either is an error of the plan); None if it names nobody."""
    pupil = pupils.get(row.former_upn) if row.former_upn else None
    if pupil is None:
        return None
    again = next((r.row for r in plan.parsed.rows if r.upn == row.former_upn), None)
    if again is None:
        again = next((r.row for p, r in plan.renumbered if p is pupil), None)
    if again is not None:
        plan.errors.append(RowError(row.row, N_(
            "former UPN %(upn)s is row %(other)d's pupil: one pupil cannot be in the file twice",
            upn=row.former_upn, other=again)))
        return None
    same_name = name_key(pupil) == name_key(row)
    same_birthday = pupil.date_of_birth == row.date_of_birth
    if not same_name and not same_birthday:  # a slip in the Former UPN: someone else's record
        plan.errors.append(RowError(row.row, N_(
            "former UPN %(upn)s is %(name)s, born %(date)s: not this pupil (neither the name nor "
            "the date of birth is the same); correct the Former UPN in the MIS", upn=row.former_upn,
            name=pupil.full_name, date=pupil.date_of_birth.strftime("%d/%m/%Y")
            if pupil.date_of_birth else "?")))
        return None
    if not same_name or not same_birthday or pupil.left_on is not None:
        plan.doubts.append(N_(
            "row %(row)d: %(upn)s %(name)s takes over the record of %(old)s %(was)s (their Former "
            "UPN), whose name or date of birth differs, or who had left: make sure it is the same "
            "child", row=row.row, upn=row.upn, name=row.full_name, old=pupil.upn,
            was=pupil.full_name))
    plan.renumbered.append((pupil, row))
    return pupil


def name_key(person: Pupil | PupilRow) -> tuple[str, str]:
    """A name as two people's names are compared: first and last, case set aside."""
    return person.first_name.casefold(), person.last_name.casefold()


def plan_lookalikes(plan: ImportPlan, pupils: Iterable[Pupil]) -> None:
    """New pupils with the name and date of birth of a pupil not in the file."""
    def key(person: Pupil | PupilRow) -> tuple[str, str, dt.date | None]:
        return *name_key(person), person.date_of_birth

    in_file = plan.upns_in_file
    missing = {key(p): p for p in pupils if p.upn not in in_file}
    plan.lookalikes = [(row, missing[key(row)]) for row in plan.new if key(row) in missing]


def too_many_leavers(leaving: int, on_roll: int, limit: float = LEAVER_SHARE_LIMIT) -> bool:
    """True when `leaving` of `on_roll` pupils is more than the `limit` share of the roll."""
    return leaving > 0 and leaving > limit * on_roll


def plan_leavers(plan: ImportPlan, pupils: Iterable[Pupil], today: dt.date) -> None:
    """Pupils on roll but missing from a full export leave (the plan refuses too many); a
    partial export makes no leavers."""
    in_file = plan.upns_in_file
    on_roll = [p for p in pupils if p.left_on is None or p.left_on > today]
    plan.on_roll = len(on_roll)
    if not plan.full:
        return
    plan.leaving = sorted((p for p in on_roll if p.upn not in in_file),
                          key=lambda p: (p.last_name, p.first_name))


@dataclass
class ImportResult:
    pupils: dict[str, Pupil]  # by UPN, every pupil of the file
    batch: ImportBatch  # what an undo needs
    left: list[tuple[Pupil, int]] = field(default_factory=list)  # leaver, faces sealed
    rejoined: list[tuple[Pupil, int]] = field(default_factory=list)  # pupil, faces unsealed
    refused: list[tuple[Pupil, str, str]] = field(default_factory=list)  # pupil, purpose, status
    faces_deleted: list[tuple[Pupil, int]] = field(default_factory=list)  # biometric "no"
    renumbered: list[tuple[Pupil, str]] = field(default_factory=list)  # pupil, the UPN before
    records: int = 0


def _stored(value) -> str:
    return value.isoformat() if isinstance(value, dt.date) else value


def apply_import(
    session: Session, school_id: int, plan: ImportPlan, *, recorded_by: str, today: dt.date,
    purposes: Iterable[str], now: dt.datetime | None = None,
) -> ImportResult:
    """Write a checked plan in the caller's transaction (which owns audit and commit).

    The import becomes a batch recording what it changed; leavers' faces are sealed, not deleted,
    so that the batch can be undone within the grace period.
    """
    if not plan.ok:
        raise ValueError("an import plan with errors cannot be applied")
    purposes, now = tuple(purposes), now or utcnow()
    batch = ImportBatch(school_id=school_id, created_by=recorded_by[:200], created_at=now,
                        full=plan.full, summary=plan.summary())
    session.add(batch)
    session.flush()
    changes: dict = {"new": [], "updated": {}, "rejoined": {}, "unsealed": [], "left": [],
                     "consents": [], "biometrics": []}
    pupils = {p.upn: p for p in session.scalars(select(Pupil).where(Pupil.school_id == school_id))}
    added = [Pupil(school_id=school_id, upn=r.upn, first_name=r.first_name, last_name=r.last_name,
                   date_of_birth=r.date_of_birth, year_group=r.year_group) for r in plan.new]
    session.add_all(added)
    for pupil, row, diff in plan.updated:
        changes["updated"][str(pupil.id)] = {name: _stored(getattr(pupil, name)) for name in diff}
        for name in diff:
            setattr(pupil, name, getattr(row, name))
    session.flush()
    pupils = {p.upn: p for p in (*pupils.values(), *added)}  # renumbered pupils by their new UPN
    changes["new"] = [p.id for p in added]
    result = ImportResult(pupils={r.upn: pupils[r.upn] for r in plan.parsed.rows}, batch=batch,
                          renumbered=[(p, diff["upn"][0]) for p, _r, diff in plan.updated
                                      if "upn" in diff])
    rejoin(session, plan, changes, result)
    for pupil in plan.leaving:
        pupil.left_on = today
        changes["left"].append(pupil.id)
        result.left.append((pupil, seal_reference_faces(session, pupil, batch_id=batch.id,
                                                        now=now)))
    records = answer_records(session, plan, pupils, result, recorded_by=recorded_by, today=today,
                             purposes=purposes)
    changes["consents"] = [r.id for r in records if isinstance(r, ConsentRecord)]
    changes["biometrics"] = [r.id for r in records if isinstance(r, BiometricConsent)]
    batch.changes_json = json.dumps(changes, sort_keys=True)
    plan.batch_id, result.records = batch.id, len(records)
    return result


def rejoin(session: Session, plan: ImportPlan, changes: dict, result: ImportResult) -> None:
    """Leavers back in the file are on roll again, with their faces if still sealed."""
    for pupil, _row in plan.rejoining:
        changes["rejoined"][str(pupil.id)] = _stored(pupil.left_on)
        pupil.left_on = None
        faces = sealed_face_ids(session, pupil.id)
        unseal_reference_faces(session, faces)
        changes["unsealed"] += faces
        result.rejoined.append((pupil, len(faces)))


def answer_records(
    session: Session, plan: ImportPlan, pupils: dict[str, Pupil], result: ImportResult, *,
    recorded_by: str, today: dt.date, purposes: tuple[str, ...],
) -> list[ConsentRecord | BiometricConsent]:
    """The consent and biometric records the MIS answers make, added and flushed."""
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
            school_id=pupil.school_id, pupil_id=pupil.id, status=status, given_by=MIS_GIVER,
            relationship_to_pupil="parent", evidence_ref="MIS export", recorded_by=recorded_by,
        ))
        if status != "granted" and row.upn not in new_upns:
            # A withdrawal deletes at once, sealed faces too: the Act allows no grace for it.
            result.faces_deleted.append((pupil, delete_reference_faces(session, pupil)))
    session.add_all(records)
    session.flush()
    return records


def batch_summary(batch: ImportBatch) -> str:
    """What a batch changed, as a message (its record keeps the English)."""
    return reread(batch.summary, IMPORT_SUMMARY)


def batch_changes(batch: ImportBatch) -> dict:
    """What a batch changed: pupil ids per kind of change, record ids, replaced values."""
    return json.loads(batch.changes_json or "{}")


# The kinds of an import's changes held per pupil: ids listed, or a pupil's replaced values.
PUPIL_CHANGES = ("new", "updated", "rejoined", "left")


def pupil_changes(changes: dict, pupil_id: int) -> dict:
    """What one import did to one pupil: each kind of change, with the values it replaced."""
    found = {}
    for kind in PUPIL_CHANGES:
        held = changes.get(kind, ())
        if isinstance(held, dict) and str(pupil_id) in held:
            found[kind] = held[str(pupil_id)]
        elif isinstance(held, list) and pupil_id in held:
            found[kind] = True
    return found


def batches_changing(session: Session, pupil: Pupil) -> list[tuple[ImportBatch, dict]]:
    """The school's imports that changed the pupil, oldest first, each with what it did."""
    batches = session.scalars(select(ImportBatch).where(ImportBatch.school_id == pupil.school_id)
                              .order_by(ImportBatch.id))
    return [(batch, done) for batch in batches
            if (done := pupil_changes(batch_changes(batch), pupil.id))]


def forget_pupil_in_imports(session: Session, pupil: Pupil) -> int:
    """Take an erased pupil out of every import's record of changes (their former details
    go, and no undo can bring them back on roll or put their details back); the count."""
    found = batches_changing(session, pupil)
    for batch, _done in found:
        changes = batch_changes(batch)
        for kind in PUPIL_CHANGES:
            held = changes.get(kind)
            if isinstance(held, dict):
                held.pop(str(pupil.id), None)
            elif isinstance(held, list):
                changes[kind] = [ident for ident in held if ident != pupil.id]
        batch.changes_json = json.dumps(changes, sort_keys=True)
    return len(found)


def import_history(session: Session, school_id: int, limit: int = 20) -> list[ImportBatch]:
    """The school's applied imports, newest first."""
    return list(session.scalars(
        select(ImportBatch).where(ImportBatch.school_id == school_id)
        .order_by(ImportBatch.id.desc()).limit(limit)
    ))


def undo_deadline(batch: ImportBatch, grace_days: int = LEAVER_GRACE_DAYS) -> dt.datetime:
    """Until when the batch can be undone: its leavers' faces are deleted after that."""
    return batch.created_at + dt.timedelta(days=grace_days)


def undo_refusal(session: Session, batch: ImportBatch, now: dt.datetime,
                 grace_days: int = LEAVER_GRACE_DAYS) -> str | None:
    """Why the batch cannot be undone now, or None when it can."""
    if batch.undone_at is not None:
        return N_("import %(id)d was already undone on %(date)s by %(who)s", id=batch.id,
                  date=batch.undone_at.strftime("%d/%m/%Y"), who=batch.undone_by)
    if now > undo_deadline(batch, grace_days):
        return N_("import %(id)d was applied more than %(days)d days ago: its leavers' reference "
                  "faces are deleted or due for deletion, so it can no longer be undone; correct "
                  "the register by hand or import a whole-school export", id=batch.id,
                  days=grace_days)
    later = session.scalar(
        select(ImportBatch.id).where(ImportBatch.school_id == batch.school_id,
                                     ImportBatch.id > batch.id, ImportBatch.undone_at.is_(None))
        .order_by(ImportBatch.id.desc()).limit(1)
    )
    if later is not None:
        return N_("import %(later)d was applied after import %(id)d: undo import %(later)d first",
                  later=later, id=batch.id)
    return None


@dataclass
class UndoResult:
    batch: ImportBatch
    restored: list[tuple[Pupil, int]] = field(default_factory=list)  # back on roll, faces unsealed
    removed: list[Pupil] = field(default_factory=list)  # pupils the import added: now off roll
    left_again: list[Pupil] = field(default_factory=list)  # the import's rejoiners
    reverted: int = 0  # pupils whose details were put back
    records: int = 0  # consent records removed


def undo_import(
    session: Session, school_id: int, batch_id: int, *, undone_by: str, today: dt.date,
    now: dt.datetime | None = None, grace_days: int = LEAVER_GRACE_DAYS,
) -> UndoResult:
    """Undo an applied import within the grace period, in the caller's transaction.

    Leavers return to roll with their sealed faces back in screening; pupils it added go off roll
    (never deleted: other records may name them); details it changed are put back; the consent
    records it added are removed. Biometric answers stay: a grant may back faces enrolled since,
    and a withdrawal's deletion cannot be reversed.
    """
    now = now or utcnow()
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.school_id != school_id:
        raise RegisterError(N_("no import %(id)s at this school", id=batch_id))
    if reason := undo_refusal(session, batch, now, grace_days):
        raise RegisterError(reason)
    changes, result = batch_changes(batch), UndoResult(batch=batch)
    for pupil in _pupils(session, changes.get("left", [])):
        pupil.left_on = None
        faces = sealed_face_ids(session, pupil.id, batch_id=batch.id)
        result.restored.append((pupil, unseal_reference_faces(session, faces)))
    rejoined = changes.get("rejoined", {})
    for pupil in _pupils(session, rejoined):
        pupil.left_on = dt.date.fromisoformat(rejoined[str(pupil.id)])
        seal_reference_faces(session, pupil, batch_id=batch.id, now=now)
        result.left_again.append(pupil)
    for pupil in _pupils(session, changes.get("new", [])):
        pupil.left_on = today
        seal_reference_faces(session, pupil, batch_id=batch.id, now=now)
        result.removed.append(pupil)
    revert_details(session, changes.get("updated", {}), result)
    result.records = remove_records(session, school_id, changes.get("consents", []))
    batch.undone_at, batch.undone_by = now, undone_by[:200]
    session.flush()
    return result


def _pupils(session: Session, ids: Iterable) -> list[Pupil]:
    """The pupils of a batch's id list, skipping any erased since (nothing left to restore)."""
    found = (session.get(Pupil, int(pupil_id)) for pupil_id in ids)
    return [pupil for pupil in found if pupil is not None]


def revert_details(session: Session, updated: dict, result: UndoResult) -> None:
    for pupil in _pupils(session, updated):
        for name, value in updated[str(pupil.id)].items():
            if name == "date_of_birth":
                value = dt.date.fromisoformat(value) if value else None
            setattr(pupil, name, value)
        result.reverted += 1


def remove_records(session: Session, school_id: int, record_ids: list[int]) -> int:
    if not record_ids:
        return 0
    session.flush()  # the expiry below would drop unflushed changes
    outcome = session.execute(
        delete(ConsentRecord).where(ConsentRecord.school_id == school_id,
                                    ConsentRecord.id.in_(record_ids))
    )
    session.expire_all()  # pupils' consent_records relationships still hold the removed rows
    return outcome.rowcount or 0
