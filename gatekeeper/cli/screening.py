"""Screening commands: `screen --json` and `strip` (photos and clips), `enrol`, `eval DIR` and
`eval-schools` (DESIGN.md)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from consent.clock import school_today
from consent.services import RegisterError
from gatekeeper.cli.base import (
    CommandError,
    check_by,
    current_school,
    output_file,
    regular_file,
    school_option,
)
from gatekeeper.compliance.crypto import app_cipher
from gatekeeper.config import instance_path
from gatekeeper.extensions import db
from gatekeeper.imaging.clips import write_clean_clip
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.mp4 import is_clip
from gatekeeper.imaging.sanitise import sanitise
from gatekeeper.imaging.video import MAX_CLIP_SECONDS, probe
from gatekeeper.publishing.adapters import write_atomically
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.clips import SAMPLE_EVERY, analyse_clip
from gatekeeper.screening.engine import analyse_bytes
from gatekeeper.screening.enrolment import EnrolmentError, enrol_pupil, photos_by_upn
from gatekeeper.screening.evaluate import LABELS_FILE, evaluate, format_report, load_labels
from gatekeeper.screening.rule import EMBEDDINGS
from gatekeeper.screening.school_eval import run
from gatekeeper.screening.service import screen_analysis, screen_clip_analysis


@click.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--purpose", required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per photo.")
@school_option
@with_appcontext
def screen(photos, purpose: str, as_json: bool, school_id: str | None) -> None:
    """Screen photos against the register for a purpose."""

    if purpose not in current_app.config["PURPOSES"]:
        raise CommandError(f"unknown purpose {purpose!r}; expected one of "
                           + ", ".join(current_app.config["PURPOSES"]))
    school, failures = current_school(school_id), 0
    for name in photos:
        try:
            path = regular_file(name)
        except CommandError as refused:
            refused.show()
            failures += 1
            continue
        try:
            line = (screen_clip if _is_clip(path) else screen_one)(name, school.id, purpose)
        except (OSError, ImageRefused) as error:
            click.echo(f"error: {name}: {error}", err=True)
            failures += 1
            continue
        click.echo(json.dumps(line) if as_json
                   else f"{name}: {line['verdict']} ({len(line['faces'])} faces)")
    if failures:
        sys.exit(1)


def _is_clip(path: Path) -> bool:
    with path.open("rb") as stream:
        return is_clip(stream.read(12))


def _distance(decision) -> float | None:
    return None if decision.distance is None else round(float(decision.distance), 4)


def screen_one(name: str, school_id: int, purpose: str) -> dict:
    """A photo's line (DESIGN.md's contract)."""
    analysis = analyse_bytes(Path(name).read_bytes())
    decisions, verdict = screen_analysis(db.session, school_id, analysis, purpose,
                                         school_today(), app_cipher())
    faces = [{"box": f.box.as_list(), "status": d.status, "upn": d.upn, "distance": _distance(d)}
             for f, d in zip(analysis.faces, decisions, strict=True)]
    return {"file": name, "purpose": purpose, "verdict": verdict, "faces": faces}


def screen_clip(name: str, school_id: int, purpose: str) -> dict:
    """A clip's line: one face per track, with its best look's box, when it is on screen, and
    every sampled box with its time (seconds) in the upright picture."""
    info = probe(Path(name), current_app.config.get("CLIP_MAX_SECONDS", MAX_CLIP_SECONDS))
    analysis = analyse_clip(Path(name))
    decisions, verdict = screen_clip_analysis(db.session, school_id, analysis, purpose,
                                              school_today(), app_cipher())
    faces = [{"box": track.best_look()[1].as_list(), "status": d.status, "upn": d.upn,
              "distance": _distance(d), "first": track.samples[0][0],
              "last": track.samples[-1][0], "boxes": track.boxes()}
             for track, d in zip(analysis.tracks, decisions, strict=True)]
    return {"file": name, "purpose": purpose, "verdict": verdict, "kind": "video",
            "duration": round(info.duration, 3), "faces": faces}


@click.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
def strip(source: str, target: str) -> None:
    """Write the sanitised JPEG of SOURCE (or MP4, for a clip) to TARGET."""

    source_path, target_path = regular_file(source), output_file(target)
    clean = None
    try:
        if _is_clip(source_path):
            size = strip_clip(source_path, target_path)
        else:
            clean = sanitise(source_path.read_bytes())
    except (OSError, ImageRefused) as error:
        raise CommandError(f"{source}: {error}") from None
    if clean is not None:
        try:
            write_atomically(target_path, clean)
        except OSError as error:
            raise CommandError(f"{target}: {error.strerror or error}") from None
        size = len(clean)
    click.echo(f"wrote {target} ({size} bytes, no metadata)")


def strip_clip(source: Path, target: Path) -> int:
    """The sanitised MP4 of a clip, written beside TARGET and moved into place once verified."""
    info = probe(source, MAX_CLIP_SECONDS)
    partial = target.with_name(f".{target.name}.partial.mp4")
    try:
        write_clean_clip(source, partial, (), hold=SAMPLE_EVERY, size=(info.width, info.height))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


enrolled_by = click.option("--by", "by", default="command line", callback=check_by,
                           help="Who is enrolling.")
taken_on = click.option("--taken", type=click.DateTime(["%Y-%m-%d"]), default=None,
                        help="When the photos were taken (default: their EXIF date, else today).")


@click.command()
@click.argument("upn")
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@enrolled_by
@taken_on
@school_option
@with_appcontext
def enrol(upn: str, photos, by: str, taken, school_id: str | None) -> None:
    """Enrol reference faces for a pupil (all photos or none)."""

    paths = [regular_file(p) for p in photos]
    school = current_school(school_id)
    try:
        done = enrol_pupil(db.session, school.id, upn, paths, by,
                           taken.date() if taken else None)
        db.session.commit()
    except (EnrolmentError, RegisterError, OSError) as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"enrolled {done.added} reference face(s) for {upn}")
    click.echo("taken on " + ", ".join(f"{d:%Y-%m-%d}" for d in done.taken_on))
    if done.retired:
        click.echo(f"retired {done.retired} older reference face(s): five are kept")
    for other, distance in done.lookalikes:
        click.echo(f"lookalike: {other.upn} {other.full_name} ({distance:.2f}): "
                   "never auto-cleared as each other")


@click.command("enrol-folder")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@enrolled_by
@taken_on
@school_option
@with_appcontext
def enrol_folder(folder: str, by: str, taken, school_id: str | None) -> None:
    """Enrol reference photos for many pupils at once: FOLDER holds photos named by UPN
    (A123456789012.jpg, or A123456789012-2.jpg for a second) or a folder per UPN. Each pupil is
    enrolled with all their photos or none; one line a pupil, then the totals."""

    school = current_school(school_id)
    try:
        found = photos_by_upn(Path(folder))
    except OSError as error:
        raise CommandError(f"{folder}: {error}") from None
    if not found.by_upn:
        raise CommandError(f"{folder}: no photo named by a UPN (such as A123456789012.jpg)")
    refused, faces = 0, 0
    for number, (upn, paths) in enumerate(sorted(found.by_upn.items()), start=1):
        step = f"[{number}/{len(found.by_upn)}] {upn}"
        try:
            done = enrol_pupil(db.session, school.id, upn, paths, by,
                               taken.date() if taken else None)
            db.session.commit()
        except (EnrolmentError, RegisterError, OSError) as error:
            db.session.rollback()
            refused += 1
            click.echo(f"{step}: not enrolled: {error}")
            continue
        faces += done.added
        lookalikes = "".join(f"; looks like {other.upn}" for other, _d in done.lookalikes)
        click.echo(f"{step}: enrolled {done.added} reference face(s){lookalikes}")
    click.echo(f"enrolled {len(found.by_upn) - refused} of {len(found.by_upn)} pupil(s), "
               f"{faces} reference face(s); files not named by a UPN: {len(found.unnamed)}")
    for name in found.unnamed[:20]:
        click.echo(f"not named by a UPN: {name}")
    if refused:
        raise CommandError(f"{refused} pupil(s) not enrolled: see the lines above")


@click.command("eval")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--labels", type=click.Path(dir_okay=False, exists=True),
              help="Labels JSON (default: FOLDER/labels.json).")
def evaluate_command(folder: str, labels: str | None) -> None:
    """Measure detection recall, leaks and auto-clear rate on a labelled folder.

    FOLDER holds people/<person id>/<reference photos>, the photos to screen and labels.json:
    {"consented": [person ids], "photos": {"path in FOLDER": [person ids or "unknown"]}}."""

    labels_path = Path(labels) if labels else Path(folder) / LABELS_FILE
    try:
        report = evaluate(Path(folder), load_labels(labels_path))
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    click.echo(format_report(report))
    if report.leaks:
        raise CommandError(f"{len(report.leaks)} leak(s): "
                           "a protected or unknown person was cleared")


@click.command("eval-schools")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--pupils", default=1000, show_default=True, help="Enrolled pupils per school.")
@click.option("--protected", default=0.2, show_default=True, help="Share of pupils protected.")
@click.option("--event", "event_size", default=60, show_default=True, help="Pupils in an event.")
@click.option("--seed", default=0, show_default=True, help="Which pupils, events, protected.")
@click.option("--kinds", default="adults,families,children", show_default=True,
              help="Comma-separated sets to build schools from.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Where analyses are cached (default: INSTANCE/eval-cache).")
@click.option("--no-sweep", is_flag=True, help="Skip the threshold sweep.")
@click.option("--cached-only", is_flag=True, help="Use only images already analysed.")
@click.option("--embedding", type=click.Choice(EMBEDDINGS), default=t.MATCH_BY, show_default=True,
              help="The distance faces are matched by (each with its own thresholds).")
@click.option("--pairs", is_flag=True,
              help="First, each embedding's same-person pairs accepted at fixed false-accept "
                   "rates.")
@click.option("--references", default=1, show_default=True,
              help="Reference photos per pupil (the first ones of each person).")
def evaluate_schools_command(folder, pupils, protected, event_size, seed, kinds, cache_dir,
                             no_sweep, cached_only, embedding, pairs, references) -> None:
    """Screen open-set schools built from labelled sets (FOLDER: the schools sets)."""

    cache = Path(cache_dir) if cache_dir else instance_path() / "eval-cache"
    try:
        report = run(Path(folder), cache, pupils, protected, event_size, seed, not no_sweep,
                     tuple(k.strip() for k in kinds.split(",") if k.strip()),
                     progress=lambda line: click.echo(line, err=True), cached_only=cached_only,
                     embedding=embedding, pairs=pairs, references=references)
    except (OSError, ValueError, KeyError) as error:
        raise CommandError(str(error)) from None
    click.echo(report)


def register(main: click.Group) -> None:
    for command in (screen, strip, enrol, enrol_folder, evaluate_command,
                    evaluate_schools_command):
        main.add_command(command)
