"""Register changes as the app performs them: the consent service, then audit, then takedown.

The web screens, the parent link and the CLI all come through here, so every route into the
register leaves the same audit trail and pulls the same posts. Nothing here commits: the caller
owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import contacts, importer, rules, services
from consent.models import ConsentRecord, Guardian, ImportBatch, NoPublishEntry, Pupil
from consent.wording import N_
from gatekeeper.compliance import audit
from gatekeeper.models import User, hold_row
from gatekeeper.publishing.service import HELD_CONSENT
from gatekeeper.publishing.takedown import pull_posts_showing
from gatekeeper.review.rescreen import REQUESTED_BY, name_blocked_faces, register_changed
from gatekeeper.review.service import search_pupils

Actor = User | str | None


class PupilNotChosen(services.RegisterError):
    """The words typed name no pupil, or several: `matches` are the pupils to choose from."""

    def __init__(self, message: str, matches: list[Pupil]):
        super().__init__(message)
        self.matches = matches


def choose_pupil(session: Session, school_id: int, text: str,
                 pupil_id: int | None = None) -> Pupil:
    """The pupil a person means: the one chosen from a list, or else the one pupil whose UPN, or
    whose name, the words typed are; PupilNotChosen (with the pupils found) otherwise."""
    if pupil_id:
        return services.get_pupil(session, school_id, pupil_id)
    text = " ".join(text.split())
    if not text:
        raise PupilNotChosen(_("Type the pupil's name or UPN."), [])
    by_upn = session.scalar(select(Pupil).where(Pupil.school_id == school_id,
                                                Pupil.upn == text.upper()))
    if by_upn is not None:
        return by_upn
    matches = search_pupils(session, school_id, text)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise PupilNotChosen(_("No pupil called “%(text)s” at this school.", text=text), [])
    raise PupilNotChosen(_("%(n)d pupils match “%(text)s”: choose one.", n=len(matches),
                           text=text), matches)


def actor_label(actor: Actor) -> str:
    return actor.name if isinstance(actor, User) else (actor or "system")


def pull_posts(session: Session, pupil: Pupil, reason: str, *, purpose: str | None = None,
               requested_by: Actor = None) -> None:
    """Withdraw at once every live post showing the pupil (for one purpose, or all)."""

    pull_posts_showing(session, pupil.id, reason, purpose=purpose, requested_by=requested_by)


def record_consent(session: Session, pupil: Pupil, purpose: str, status: str, *, actor: Actor,
                   **fields) -> ConsentRecord:
    """One consent record, audited; anything but a grant pulls the pupil's posts for the purpose."""
    fields.setdefault("recorded_by", actor_label(actor))
    record = services.record_consent(session, pupil, purpose, status, **fields)
    audit.record(session, "consent_recorded", school_id=pupil.school_id, actor=actor,
                 subject=record, detail={"upn": pupil.upn, "purpose": purpose, "status": status,
                                         "source": record.source})
    if status != "granted":
        pull_posts(session, pupil, f"consent {status} for {purpose}", purpose=purpose,
                   requested_by=actor)
    register_changed(session, pupil.school_id, [pupil.id])
    return record


def set_consent(
    session: Session, school_id: int, upn: str, purpose: str, status: str, *, given_by: str,
    recorded_by: str, expires_on: dt.date | None = None, source: str = "paper", actor=None,
    purposes=None, **extra,
):
    """Record consent by UPN (the command line); a known parent's name links their record."""
    pupil = services.find_pupil(session, school_id, upn)
    guardian = services.guardian_named(session, pupil, given_by)
    if guardian is not None:
        extra.setdefault("guardian_id", guardian.id)
        extra.setdefault("relationship", guardian.relationship_to_pupil)
    return record_consent(
        session, pupil, purpose, status, actor=actor or recorded_by, given_by=given_by,
        recorded_by=recorded_by, expires_on=expires_on, source=source,
        purposes=purposes or rules.DEFAULT_PURPOSES, **extra,
    )


def record_form(
    session: Session, pupil: Pupil, answers: Mapping[str, str], *, giver: Guardian | None,
    actor: Actor, purposes: Iterable[str], source: str = "paper", **fields,
) -> list[ConsentRecord]:
    """A consent form: one record per purpose answered, from a parent or (giver None) the pupil."""
    if not answers:
        raise services.RegisterError(N_("choose an answer for at least one purpose"))
    if giver is None:
        who = {"given_by": pupil.full_name, "relationship": "pupil"}
    else:
        who = {"given_by": giver.name, "relationship": giver.relationship_to_pupil,
               "guardian_id": giver.id}
    purposes = tuple(purposes)
    return [record_consent(session, pupil, purpose, status, actor=actor, source=source,
                           purposes=purposes, **who, **fields)
            for purpose, status in answers.items()]


def add_guardian(session: Session, pupil: Pupil, name: str, relationship: str, email: str, *,
                 actor: Actor) -> Guardian:
    guardian = services.add_guardian(session, pupil, name, relationship, email)
    audit.record(session, "guardian_added", school_id=pupil.school_id, actor=actor,
                 subject=guardian, detail={"upn": pupil.upn, "relationship": relationship})
    return guardian


def audit_faces_deleted(session: Session, pupil: Pupil, count: int, reason: str,
                        actor: Actor) -> None:
    """Audit a deletion of reference faces (nothing to say when there were none)."""
    if count:
        audit.record(session, "reference_faces_deleted", school_id=pupil.school_id, actor=actor,
                     subject=pupil, detail={"upn": pupil.upn, "faces": count, "reason": reason})


def record_biometric(session: Session, pupil: Pupil, status: str, *, actor: Actor, **fields):
    """Biometric consent or objection; anything but consent deletes the reference faces at once."""
    enrolled = services.reference_face_count(session, pupil.id)
    fields.setdefault("recorded_by", actor_label(actor))
    if status != "granted" and enrolled:
        name_blocked_faces(session, pupil.school_id, [pupil.id])
    row = services.record_biometric(session, pupil, status, **fields)
    audit.record(session, "biometric_consent_recorded", school_id=pupil.school_id, actor=actor,
                 subject=row, detail={"upn": pupil.upn, "status": status})
    if status != "granted":
        audit_faces_deleted(session, pupil, enrolled, f"biometric consent {status}", actor)
    register_changed(session, pupil.school_id, [pupil.id])
    return row


def delete_faces(session: Session, pupil: Pupil, *, actor: Actor) -> int:
    name_blocked_faces(session, pupil.school_id, [pupil.id])
    count = services.delete_reference_faces(session, pupil)
    audit_faces_deleted(session, pupil, count, "deleted by hand", actor)
    register_changed(session, pupil.school_id, [pupil.id])
    return count


def record_leaving(session: Session, pupil: Pupil, on: dt.date, *, actor: Actor) -> int:
    """The pupil leaves: never publishable again; reference faces deleted at once."""
    name_blocked_faces(session, pupil.school_id, [], leavers=[pupil.id])
    count = services.record_leaving(session, pupil, on)
    audit.record(session, "pupil_left", school_id=pupil.school_id, actor=actor, subject=pupil,
                 detail={"upn": pupil.upn, "left_on": on.isoformat()})
    audit_faces_deleted(session, pupil, count, "left the school", actor)
    register_changed(session, pupil.school_id, [pupil.id])
    return count


def put_back_on_roll(session: Session, pupil: Pupil, *, actor: Actor) -> None:
    """Take back a leaving recorded by mistake (audited); the school is screened again."""
    was = services.put_back_on_roll(pupil)
    audit.record(session, "pupil_back_on_roll", school_id=pupil.school_id, actor=actor,
                 subject=pupil, detail={"upn": pupil.upn, "left_on_was": was.isoformat()})
    register_changed(session, pupil.school_id, [pupil.id])


def add_nopublish(session: Session, school_id: int, upn: str, *, category: str, note: str,
                  added_by: str, actor=None, **dates) -> NoPublishEntry:
    pupil = services.find_pupil(session, school_id, upn)
    entry = services.add_nopublish(session, pupil, category=category, note=note,
                                   added_by=added_by, **dates)
    # The reason stays out of the audit detail: only the DSL may read it, on the entry itself.
    audit.record(session, "nopublish_added", school_id=school_id, actor=actor or added_by,
                 subject=entry, detail={"upn": pupil.upn})
    # The media lead takes the posts down and sees why: in the words and the name a register
    # change gives (as for a lookalike), never "the no-publish list" nor the DSL who asked.
    pull_posts(session, pupil, HELD_CONSENT, requested_by=REQUESTED_BY)
    register_changed(session, school_id, [pupil.id])
    return entry


def remove_nopublish(session: Session, school_id: int, upn: str, *, removed_by: str, reason: str,
                     actor=None) -> int:
    pupil = services.find_pupil(session, school_id, upn)
    closed = services.remove_nopublish(session, pupil, removed_by=removed_by, reason=reason)
    audit.record(session, "nopublish_removed", school_id=school_id, actor=actor or removed_by,
                 subject=pupil, detail={"upn": pupil.upn})
    register_changed(session, school_id, [pupil.id])
    return closed


def remove_nopublish_entry(session: Session, entry: NoPublishEntry, *, reason: str,
                           actor: Actor) -> None:
    """Close one entry (another may still protect the pupil); kept as history."""
    services.close_nopublish_entry(entry, removed_by=actor_label(actor), reason=reason)
    audit.record(session, "nopublish_removed", school_id=entry.school_id, actor=actor,
                 subject=entry, detail={"upn": entry.pupil.upn})
    register_changed(session, entry.school_id, [entry.pupil_id])


def renew(session: Session, school_id: int, pupil_ids: Iterable[int], *, purposes: Iterable[str],
          on: dt.date, evidence_ref: str, actor: Actor,
          days: int = rules.RENEWAL_WINDOW_DAYS) -> list[ConsentRecord]:
    """'Renewed for this year': every grant of the chosen pupils lapsing within the `days` the
    page listed, granted again."""
    chosen = set(pupil_ids)
    renewed = []
    for pupil, expiring in services.renewals_due(session, school_id, purposes, on, days):
        if pupil.id not in chosen:
            continue
        for record in services.renewal_records(pupil, expiring, recorded_by=actor_label(actor),
                                               evidence_ref=evidence_ref, on=on):
            session.add(record)
            session.flush()
            audit.record(session, "consent_recorded", school_id=school_id, actor=actor,
                         subject=record, detail={"upn": pupil.upn, "purpose": record.purpose,
                                                 "status": "granted", "source": "renewal"})
            renewed.append(record)
    register_changed(session, school_id, {r.pupil_id for r in renewed})
    return renewed


def issue_parent_link(session: Session, guardian: Guardian, *, actor: Actor) -> str:
    """A fresh nonce for the guardian's link (earlier links stop working); returns it."""
    nonce = services.issue_link_nonce(guardian)
    audit.record(session, "parent_link_issued", school_id=guardian.school_id, actor=actor,
                 subject=guardian, detail={"pupil_id": guardian.pupil_id})
    return nonce


def renews(facts, giver: str, purpose: str, on: dt.date) -> bool:
    """Whether this giver's grant in force lapses before a "yes" given now would (a renewal
    round's "yes" records it again, to run as long as the page says)."""
    fact = rules.latest_by_giver(facts, purpose).get(giver)
    return (fact is not None and rules.grant_in_force(fact, on) and fact.expires_on is not None
            and fact.expires_on < rules.answer_expiry(on))


def revoke_parent_link(session: Session, guardian: Guardian, *, actor: Actor) -> None:
    services.revoke_link(guardian)
    audit.record(session, "parent_link_revoked", school_id=guardian.school_id, actor=actor,
                 subject=guardian, detail={"pupil_id": guardian.pupil_id})


def parent_answers(session: Session, guardian: Guardian, answers: Mapping[str, str], *,
                   purposes: Iterable[str], on: dt.date) -> list[ConsentRecord]:
    """A parent's yes/no per purpose through their link: records only what changed. The guardian
    is held first, so a second press of the button waits, then reads what the first recorded."""
    hold_row(session, Guardian.link_nonce, guardian.id)
    pupil = session.get(Pupil, guardian.pupil_id)
    session.expire(pupil, ["consent_records"])
    facts = services.consent_facts(pupil.consent_records)
    giver = services.guardian_giver(guardian)
    changes = {}
    for purpose, said in answers.items():
        current = rules.giver_answer(facts, giver, purpose, on)
        status = rules.status_for_answer(current, said)
        if status is None and said == "yes" and renews(facts, giver, purpose, on):
            status = "granted"  # a renewal round's "yes": the grant in force lapses soon
        if status is not None:
            changes[purpose] = status
    who = {"giver": guardian, "actor": f"parent link: {guardian.name}", "purposes": purposes,
           "source": "parent_link", "recorded_by": "parent link", "form_date": on}
    lasts = {"expires_on": rules.answer_expiry(on)}  # as long as the page says a "yes" lasts
    return [record for purpose, status in changes.items()
            for record in record_form(session, pupil, {purpose: status}, **who,
                                      **(lasts if status == "granted" else {}))]


def import_pupils(
    session: Session, school_id: int, data: bytes, *, purposes: Iterable[str], today: dt.date,
    full: bool, apply: bool, actor: Actor, confirmed_leavers: int | None = None,
    leaver_limit: float = importer.LEAVER_SHARE_LIMIT, audit_refusal: bool | None = None,
) -> importer.ImportPlan:
    """Check an MIS export and, if asked and every row is valid, apply it with its audit trail.

    A plan refused for too many leavers is audited (when applying, or `audit_refusal`); the caller
    commits that event. Raises importer.ImportRefused when the file as a whole cannot be read.
    """
    purposes = tuple(purposes)
    parsed = importer.read_export(data, purposes, today)
    plan = importer.plan_import(session, school_id, parsed, today, full=full,
                                leaver_limit=leaver_limit, confirmed_leavers=confirmed_leavers)
    if plan.refused and (apply if audit_refusal is None else audit_refusal):
        audit.record(session, "pupils_import_refused", school_id=school_id, actor=actor, detail={
            "rows": len(parsed.rows), "on_roll": plan.on_roll, "leaving": len(plan.leaving),
            "confirmed": confirmed_leavers, "limit": leaver_limit})
    if not (apply and plan.ok and plan.changes):  # the same file again changes nothing at all
        return plan
    name_blocked_faces(session, school_id, withdrawing_biometrics(session, school_id, plan),
                       leavers=[p.id for p in plan.leaving])
    result = importer.apply_import(session, school_id, plan, recorded_by=actor_label(actor),
                                   today=today, purposes=purposes)
    audit.record(session, "pupils_imported", school_id=school_id, actor=actor,
                 subject=result.batch, detail={
        "rows": len(parsed.rows), "new": len(plan.new), "updated": len(plan.updated),
        "rejoined": len(plan.rejoining), "left": len(plan.leaving), "records": result.records,
        "renumbered": len(result.renumbered),
        "full": full, "batch": result.batch.id, "confirmed_leavers": confirmed_leavers,
    })
    audit_import_faces(session, school_id, result, today, actor)
    for pupil, purpose, status in result.refused:
        pull_posts(session, pupil, f"consent {status} for {purpose} (MIS import)",
                   purpose=purpose, requested_by=actor)
    register_changed(session, school_id, [p.id for p, _count in result.left]
                     + [p.id for p, _purpose, _status in result.refused])
    return plan


def withdrawing_biometrics(session: Session, school_id: int,
                           plan: importer.ImportPlan) -> list[int]:
    """The pupils whose reference faces an import deletes: those whose biometric consent it
    records as withdrawn or objected (its leavers' faces are sealed)."""
    upns = [row.upn for row, status in plan.biometrics if status != "granted"]
    # A pupil the import renumbers is still under their former UPN in the register.
    renumbered = {row.upn: pupil.id for pupil, row in plan.renumbered}
    found = [renumbered[upn] for upn in upns if upn in renumbered]
    rest = [upn for upn in upns if upn not in renumbered]
    if rest:
        found += session.scalars(select(Pupil.id).where(Pupil.school_id == school_id,
                                                        Pupil.upn.in_(rest)))
    return found


def audit_import_faces(session: Session, school_id: int, result: importer.ImportResult,
                       today: dt.date, actor: Actor) -> None:
    """Leavers (faces sealed), rejoiners (faces back) and biometric withdrawals of an import."""
    for pupil, count in result.left:
        audit.record(session, "pupil_left", school_id=school_id, actor=actor, subject=pupil,
                     detail={"upn": pupil.upn, "left_on": today.isoformat(), "by": "MIS import",
                             "faces_sealed": count, "batch": result.batch.id})
    for pupil, before in result.renumbered:
        audit.record(session, "pupil_renumbered", school_id=school_id, actor=actor, subject=pupil,
                     detail={"upn": pupil.upn, "former_upn": before, "by": "MIS import",
                             "batch": result.batch.id})
    for pupil, count in result.rejoined:
        audit.record(session, "pupil_rejoined", school_id=school_id, actor=actor, subject=pupil,
                     detail={"upn": pupil.upn, "faces_unsealed": count,
                             "batch": result.batch.id})
    for pupil, count in result.faces_deleted:
        audit_faces_deleted(session, pupil, count, "biometric consent withdrawn (MIS import)",
                            actor)


def undo_import(session: Session, school_id: int, batch_id: int, *, today: dt.date,
                grace_days: int = importer.LEAVER_GRACE_DAYS, actor: Actor):
    """Undo an applied import within the grace period (importer.undo_import), audited."""
    name_blocked_faces(session, school_id, [],
                       leavers=going_off_roll(session, school_id, batch_id))
    result = importer.undo_import(session, school_id, batch_id, undone_by=actor_label(actor),
                                  today=today, grace_days=grace_days)
    audit.record(session, "pupils_import_undone", school_id=school_id, actor=actor,
                 subject=result.batch, detail={
        "batch": batch_id, "restored": [p.upn for p, _ in result.restored],
        "faces_unsealed": sum(n for _, n in result.restored),
        "off_roll": [p.upn for p in result.removed + result.left_again],
        "reverted": result.reverted, "records_removed": result.records,
    })
    register_changed(session, school_id, [p.id for p in result.removed + result.left_again])
    return result


def going_off_roll(session: Session, school_id: int, batch_id: int) -> list[int]:
    """The pupils whose reference faces undoing the import seals: those it added or brought back
    (an undo refused raises before anything is committed)."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.school_id != school_id:
        return []
    changes = importer.batch_changes(batch)
    return [int(pupil_id) for pupil_id in (*changes.get("new", []), *changes.get("rejoined", {}))]


def import_settings(config: Mapping) -> tuple[float, int]:
    """The app's leaver share limit and grace period in days (config overrides the defaults)."""
    return (float(config.get("LEAVER_SHARE_LIMIT", importer.LEAVER_SHARE_LIMIT)),
            int(config.get("LEAVER_GRACE_DAYS", importer.LEAVER_GRACE_DAYS)))


def import_contacts(session: Session, school_id: int, data: bytes, *, apply: bool,
                    actor: Actor) -> contacts.ContactsPlan:
    """Check a contacts export and, if asked and every row is valid, apply it, audited.
    Raises importer.ImportRefused when the file as a whole cannot be read."""
    plan = contacts.plan_contacts(session, school_id, contacts.read_contacts(data))
    if apply and not plan.errors and (plan.new or plan.updated):
        touched = {pupil.id for pupil, _row in plan.new} | {g.pupil_id for g, _row in plan.updated}
        contacts.apply_contacts(session, school_id, plan)
        audit.record(session, "contacts_imported", school_id=school_id, actor=actor, detail={
            "rows": len(plan.parsed.rows), "new": len(plan.new), "updated": len(plan.updated)})
        # Who has parental responsibility decides whose "yes" counts, and shared contacts make
        # siblings: the photos and posts showing these pupils are judged again.
        register_changed(session, school_id, touched)
    return plan
