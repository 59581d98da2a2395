"""The worker's mail tasks: they take ids (or the address typed), and retry when SMTP fails."""

from __future__ import annotations

from gatekeeper.tasks import app_task

MAIL_RETRIES = 3
MAIL_RETRY_DELAY_S = 60


@app_task(retries=MAIL_RETRIES, retry_delay=MAIL_RETRY_DELAY_S)
def send_invitation_task(invitation_id: int) -> str:
    from gatekeeper.people.emails import mail_invitation

    return mail_invitation(invitation_id)


@app_task(retries=MAIL_RETRIES, retry_delay=MAIL_RETRY_DELAY_S)
def send_reset_task(email: str) -> str:
    from gatekeeper.people.emails import mail_reset

    return mail_reset(email)
