"""The school's own groups of pupils (classes, clubs), which events name beside year groups."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consent.models import Pupil, PupilGroup, PupilGroupMember
from consent.services import RegisterError
from consent.wording import N_

GROUP_KINDS = ("class", "club")
MAX_GROUP_NAME = 100


def school_groups(session: Session, school_id: int) -> list[PupilGroup]:
    return list(session.scalars(select(PupilGroup).where(PupilGroup.school_id == school_id)
                                .order_by(PupilGroup.kind, PupilGroup.name)))


def add_group(session: Session, school_id: int, name: str, kind: str,
              created_by: str) -> PupilGroup:
    """A new class or club; its name is unique in the school."""
    name = " ".join((name or "").split())
    if not name:
        raise RegisterError(N_("give the group a name"))
    if len(name) > MAX_GROUP_NAME:
        raise RegisterError(N_("a group's name has at most %(n)d characters", n=MAX_GROUP_NAME))
    if kind not in GROUP_KINDS:
        raise RegisterError(N_("a group is one of %(choices)s", choices=", ".join(GROUP_KINDS)))
    taken = session.scalar(select(PupilGroup.id).where(
        PupilGroup.school_id == school_id, PupilGroup.name.ilike(name)))
    if taken is not None:
        raise RegisterError(N_("the school already has a group called %(name)s", name=name))
    group = PupilGroup(school_id=school_id, name=name, kind=kind, created_by=created_by)
    session.add(group)
    session.flush()
    return group


def set_members(session: Session, group: PupilGroup, shown: Iterable[int],
                chosen: Collection[int]) -> tuple[int, int]:
    """Of the pupils `shown` (a page of the school's pupils), make exactly `chosen` members;
    pupils not shown keep their membership. Returns (added, removed)."""
    shown = set(session.scalars(select(Pupil.id).where(
        Pupil.school_id == group.school_id, Pupil.id.in_(set(shown)))))
    if set(chosen) - shown:
        raise RegisterError(N_("choose pupils of this school"))
    current = set(session.scalars(select(PupilGroupMember.pupil_id).where(
        PupilGroupMember.group_id == group.id)))
    adding, removing = (set(chosen) - current), (current & shown) - set(chosen)
    session.add_all(PupilGroupMember(group_id=group.id, pupil_id=p) for p in sorted(adding))
    if removing:
        session.execute(delete(PupilGroupMember).where(
            PupilGroupMember.group_id == group.id, PupilGroupMember.pupil_id.in_(removing)))
    session.flush()
    return len(adding), len(removing)


def member_ids(session: Session, school_id: int, group_ids: Collection[int]) -> set[int]:
    """The pupils in any of these groups of the school."""
    if not group_ids:
        return set()
    return set(session.scalars(
        select(PupilGroupMember.pupil_id).join(PupilGroup)
        .where(PupilGroup.school_id == school_id, PupilGroup.id.in_(set(group_ids)))))
