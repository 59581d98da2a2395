"""The preview works when the rendering cache cannot be written (issue 15, finding 10: it answered
500). The cache folder is made a plain file, which refuses writes even to root."""

from __future__ import annotations

import shutil
from pathlib import Path

from gatekeeper.imaging.sanitise import verify_clean
from gatekeeper.storage import RENDERINGS
from tests.support.fixtures import add_pupil
from tests.support.publishing import cleared_photo


def test_preview_works_when_the_rendering_cache_is_unwritable(app, school, login_as):
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                          consents={"social_media": "granted"})
        photo_id = cleared_photo(db.session, school["id"], [pupil.id])
    cache = Path(app.config["STORAGE_DIR"]) / RENDERINGS
    if cache.exists():
        shutil.rmtree(cache)
    cache.write_text("not a folder")  # every write into the cache now fails
    media = login_as("media_lead")
    for path in (f"/review/{photo_id}/preview", f"/review/{photo_id}/preview?account=1",
                 f"/uploads/{photo_id}/thumb"):
        response = media.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert response.mimetype == "image/jpeg"
        verify_clean(response.get_data())
    assert cache.read_text() == "not a folder"
