"""The authenticator app a test user carries: the second-factor code for now, as a phone shows it.

Users of `make_school` whose role needs a second factor are enrolled with TOTP_SECRET; a user
enrolled through the enrolment page has the secret that page showed. A code works once (the server
keeps the last time step used), so a second sign-in within the same 30 seconds takes the next
step's code, as the window allows, and a third waits for the clock, as a person would.
"""

from __future__ import annotations

import time

import pyotp
from sqlalchemy import func, select

from consent.models import utcnow
from gatekeeper.models import User
from gatekeeper.people.models import SecondFactor
from gatekeeper.people.second_factor import STEP_S, VALID_WINDOW, current_step, seal, secret_of

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol(session, user: User, secret: str = TOTP_SECRET) -> None:
    """Give a fixture user an enrolled authenticator (inside an app context)."""
    session.add(SecondFactor(user_id=user.id, secret_sealed=seal(secret), enrolled_at=utcnow()))


def code_for(app, email: str) -> str:
    """The next code this user's authenticator would show that the server has not yet accepted."""
    from gatekeeper.extensions import db

    with app.app_context():
        factor = db.session.scalar(select(SecondFactor).join(User, User.id == SecondFactor.user_id)
                                   .where(func.lower(User.email) == email.strip().lower()))
        assert factor is not None, f"{email} has no second factor"
        secret, last = secret_of(factor), factor.last_step or 0
    return code_after(secret, last)


def code_after(secret: str, last_step: int) -> str:
    step = max(current_step(), last_step + 1)
    while step > current_step() + VALID_WINDOW:  # the app shows that code only when its time comes
        time.sleep(0.5)
    return pyotp.TOTP(secret).at(step * STEP_S)
