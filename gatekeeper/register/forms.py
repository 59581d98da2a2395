"""The register's forms: they parse and check input; the actions decide and write."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from consent.clock import school_today
from consent.rules import NOPUBLISH_CATEGORIES, STATUSES
from consent.services import GUARDIAN_RELATIONSHIPS
from gatekeeper.register.wording import (
    BIOMETRIC_STATUS_LABELS,
    CATEGORY_LABELS,
    CONSENT_STATUS_LABELS,
    RELATIONSHIP_LABELS,
)
from gatekeeper.uploads.labels import purpose_label

MAX_NOTE = 2000
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # a shape check: the address is only shown to staff
NEW_GIVER, PUPIL_GIVER = "new", "pupil"
UNCHANGED = ""
STATUS_CHOICES = [SelectChoice(s, CONSENT_STATUS_LABELS[s]) for s in STATUSES]
ALL_ANSWERS = [SelectChoice(UNCHANGED, _l("—")), *STATUS_CHOICES]
PURPOSE_ANSWERS = [SelectChoice(UNCHANGED, _l("as above")), *STATUS_CHOICES]
RELATIONSHIPS = [SelectChoice(r, RELATIONSHIP_LABELS[r]) for r in GUARDIAN_RELATIONSHIPS]


def today() -> dt.date:
    """The school's date (Europe/London), which is what a form's date means."""
    return school_today()


def giver_choices(guardians, *, pupil_name: str) -> list[SelectChoice]:
    """Who gave the form: a known parent or carer, a new one, or the pupil.

    Labels carrying a name are plain `str`, never lazy strings: a lazy string has `__html__`, so
    WTForms would print a name put into one as markup (issue 15: a pupil named
    `</option></select><h1>...` injected elements into the page).
    """
    return [
        *(SelectChoice(str(g.id), f"{g.name} ({RELATIONSHIP_LABELS.get(g.relationship_to_pupil)})")
          for g in guardians),
        SelectChoice(NEW_GIVER, _l("Someone not listed yet (give the name below)")),
        SelectChoice(PUPIL_GIVER, gettext("%(name)s, the pupil", name=pupil_name)),
    ]


class GiverForm(FlaskForm):
    giver = SelectField(_l("Who signed the form"), validators=[DataRequired()])
    new_name = StringField(_l("Name of the parent or carer"), validators=[Length(max=200)])
    new_relationship = SelectField(_l("Relationship"), choices=RELATIONSHIPS)
    form_date = DateField(_l("Date on the form"), default=today, validators=[DataRequired()])
    evidence_ref = StringField(_l("Where the form is kept (optional)"),
                               validators=[Length(max=200)])

    def validate_new_name(self, field) -> None:
        if self.giver.data == NEW_GIVER and not field.data.strip():
            raise ValidationError(_l("Give the name of the parent or carer."))

    def validate_form_date(self, field) -> None:
        if field.data and field.data > today():
            raise ValidationError(_l("The form's date cannot be in the future."))


class PaperForm(GiverForm):
    same_for_all = RadioField(_l("The same for all purposes"), choices=ALL_ANSWERS,
                              default=UNCHANGED)
    expires_on = DateField(_l("Consent lapses on (default: 31 August)"), validators=[Optional()])

    def answers(self, purposes) -> dict[str, str]:
        """Each answered purpose's status; a purpose answered on its own keeps its own answer."""
        out = {}
        for purpose in purposes:
            own = self[f"purpose_{purpose}"].data
            if own or self.same_for_all.data:
                out[purpose] = own or self.same_for_all.data
        return out


def paper_form(purposes, guardians, *, pupil_name: str, **kwargs) -> PaperForm:
    """The paper consent form with one answer per purpose the school uses."""

    class Form(PaperForm):
        pass

    for purpose in purposes:
        setattr(Form, f"purpose_{purpose}",
                RadioField(purpose_label(purpose), choices=PURPOSE_ANSWERS, default=UNCHANGED))
    form = Form(**kwargs)
    form.giver.choices = giver_choices(guardians, pupil_name=pupil_name)
    return form


class BiometricForm(GiverForm):
    status = RadioField(_l("Biometric consent"), validators=[DataRequired()],
                        choices=[SelectChoice(*kv) for kv in BIOMETRIC_STATUS_LABELS.items()])
    written = BooleanField(_l("I hold the signed written consent"))

    def validate_status(self, field) -> None:
        if self.giver.data == PUPIL_GIVER:
            # A pupil objects, or takes their objection back (recorded as theirs, "granted"):
            # consent itself is still a parent's, in writing (rules.may_enrol).
            if field.data == "withdrawn":
                raise ValidationError(_l("A pupil objects, or takes their objection back (choose "
                                         "written consent): biometric consent itself is given "
                                         "in writing by a parent."))
            return
        if field.data == "granted" and not self.written.data:
            raise ValidationError(_l("Biometric consent must be in writing: tick that you hold "
                                     "the signed form."))


def biometric_form(guardians, *, pupil_name: str, **kwargs) -> BiometricForm:
    form = BiometricForm(**kwargs)
    form.giver.choices = giver_choices(guardians, pupil_name=pupil_name)
    return form


class GuardianForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    relationship = SelectField(_l("Relationship"), choices=RELATIONSHIPS)
    email = EmailField(_l("Email (optional)"), validators=[
        Optional(), Regexp(EMAIL, message=_l("Not an email address.")), Length(max=254)])


class LeavingForm(FlaskForm):
    left_on = DateField(_l("Left on"), default=today, validators=[DataRequired()])


class EnrolForm(FlaskForm):
    photos = MultipleFileField(_l("Reference photos (1 to 5, one face each)"))
    taken_on = DateField(_l("Taken on (leave empty: the photo's own date, else today)"),
                         validators=[Optional()])


class RenewalForm(FlaskForm):
    evidence_ref = StringField(_l("Where the returned forms are kept (optional)"),
                               validators=[Length(max=200)])


class ImportForm(FlaskForm):
    file = FileField(_l("MIS export (CSV)"), validators=[FileRequired()])
    partial = BooleanField(_l("This is not the whole school: leave pupils missing from it as "
                              "they are"))


class NoPublishForm(FlaskForm):
    pupil = StringField(_l("Pupil: name or UPN"), validators=[Length(max=200)])
    # The pupil chosen from the names found (the search fills it); it wins over the typed text.
    pupil_id = IntegerField(_l("Choose the pupil"), validators=[Optional()])
    category = SelectField(_l("Reason"), choices=[SelectChoice(c, CATEGORY_LABELS[c])
                                                 for c in NOPUBLISH_CATEGORIES])
    note = TextAreaField(_l("Note (seen only by the DSL)"), validators=[Length(max=MAX_NOTE)])
    starts_on = DateField(_l("From"), default=today, validators=[DataRequired()])
    ends_on = DateField(_l("Until (optional)"), validators=[Optional()])

    def validate_ends_on(self, field) -> None:
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The end date is before the start date."))
        if field.data and field.data < today():
            raise ValidationError(_l("The end date has passed: the pupil would not be protected."))


class RemovalForm(FlaskForm):
    reason = StringField(_l("Why it ends"), validators=[DataRequired(), Length(max=MAX_NOTE)])
