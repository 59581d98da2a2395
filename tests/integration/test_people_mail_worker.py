"""Mail goes out from the real worker process: the web request only queues it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from gatekeeper.models import AuditEvent
from gatekeeper.worker.queue import configure_queue
from tests.integration.test_people_mail import link_in
from tests.support.commands import stop_process
from tests.support.fixtures import Browser
from tests.support.smtp import smtp_server, text_of

pytestmark = pytest.mark.slow

WORKER_MAIL_TIMEOUT_S = 120


@pytest.fixture
def smtp():
    with smtp_server() as (handler, port):
        yield handler, port


@pytest.fixture
def mail_worker(app, smtp):
    _, port = smtp
    app.config.update(HUEY_IMMEDIATE=False, MAIL_URL=f"smtp://127.0.0.1:{port}")
    configure_queue(app)
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(app.config["INSTANCE"]),
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"],
           "GATEKEEPER_QUEUE_NAME": app.config["HUEY_NAME"], "SECRET_KEY": app.config["SECRET_KEY"],
           "MAIL_URL": f"smtp://127.0.0.1:{port}", "MAIL_FROM": "office@testschool.test",
           "GATEKEEPER_BASE_URL": "http://localhost"}
    process = subprocess.Popen([str(Path(sys.executable).with_name("gatekeeper")), "worker",
                                "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    yield process
    stop_process(process)
    app.config["HUEY_IMMEDIATE"] = True
    configure_queue(app)


def test_the_worker_mails_an_invitation_and_a_reset(app, login_as, smtp, mail_worker, ctx):
    inbox, _ = smtp
    head = login_as("head")
    assert head.post(
        "/head/invitations", {"email": "new@testschool.test", "role": "staff"}).status_code == 302
    browser = Browser(app.test_client())
    browser.refresh_token("/welcome/reset")
    browser.post("/welcome/reset", {"email": "dsl@testschool.test"})
    messages = inbox.wait_for(2, WORKER_MAIL_TIMEOUT_S)
    assert sorted(m["To"] for m in messages) == ["dsl@testschool.test", "new@testschool.test"]
    invitation = next(m for m in messages if m["To"] == "new@testschool.test")
    assert "Test School" in text_of(invitation)
    path = link_in(invitation)
    newcomer = Browser(app.test_client())
    newcomer.refresh_token(path)
    password = "chosen from the email"
    assert newcomer.post(
        path, {"name": "New", "password": password, "confirm": password}).status_code == 302
    with ctx():
        sent = ctx.db.session.scalars(select(AuditEvent.detail_json).where(
            AuditEvent.action == "mail_sent")).all()
    assert len(sent) == 2 and all(path.rsplit("/", 1)[1] not in detail for detail in sent)
