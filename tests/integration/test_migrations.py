"""The schema comes from the migrations: they reach one head, and match the models exactly."""

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import Config


def test_migrations_have_a_single_head(app):
    config = Config(str(app.extensions["migrate"].directory) + "/alembic.ini")
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_models_match_the_migrated_database(app):
    with app.app_context():
        from gatekeeper.extensions import db

        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
    assert differences == []


@pytest.mark.once
def test_records_typed_by_name_before_the_guardian_are_linked_on_upgrade(app, school):
    """0019: the rules now tell parents apart by guardian; a record given in a guardian's name
    before they were on the register is linked to them, the pupil's own and strangers' are not."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import select, text

    from consent.models import ConsentRecord
    from gatekeeper.extensions import db
    from tests.support.fixtures import add_pupil

    with app.app_context():
        downgrade(revision="0015_embedding")
        ava = add_pupil(db.session, school["id"], 1, "Ava", "Thompson")
        db.session.execute(text(  # the guardian table as it was then (no later columns)
            "INSERT INTO guardian (school_id, pupil_id, name, relationship_to_pupil, created_at) "
            "VALUES (:school, :pupil, 'Mary Thompson', 'parent', :now)"),
            {"school": ava.school_id, "pupil": ava.id, "now": dt.datetime(2026, 9, 1)})
        for given_by, relationship in (("mary  THOMPSON", "parent"), ("Ava Thompson", "pupil"),
                                       ("Someone Else", "parent")):
            db.session.add(ConsentRecord(
                school_id=ava.school_id, pupil_id=ava.id, purpose="website", status="refused",
                given_by=given_by, relationship_to_pupil=relationship, recorded_by="test",
                source="paper", effective_from=dt.date(2026, 9, 1)))
        db.session.commit()
        mary_id = db.session.scalar(text("SELECT id FROM guardian WHERE name = 'Mary Thompson'"))
        upgrade()
        db.session.expire_all()
        linked = dict(db.session.execute(select(ConsentRecord.given_by,
                                                ConsentRecord.guardian_id)).all())
    assert linked == {"mary  THOMPSON": mary_id, "Ava Thompson": None, "Someone Else": None}
