"""Sign-in throttles (issue 15, findings 1 and 5): they hold under 50 parallel attempts (real
threads against the app, on SQLite and PostgreSQL), give the same answer in about the same time
for real and unknown accounts, slow a guesser and do not let a stranger lock the head out."""

from __future__ import annotations

import re
import threading
import time

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from gatekeeper.extensions import db
from gatekeeper.models import AuditEvent, LoginFailure, User
from gatekeeper.people.auth import (
    FAILED,
    MAX_FAILED_LOGINS,
    MAX_FAILURES_PER_ADDRESS,
    PASSWORD_HASH_METHOD,
    account_key,
    dummy_hash,
    hash_password,
)
from tests.support.fixtures import PASSWORD, Browser

PARALLEL = 50
RIGHT_ONE = 19  # the right password is attempt 20, as in the report
TOKEN_ATTR = re.compile(r'value="[^"]*"')


def browser_at(app, address: str) -> Browser:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    browser = Browser(client)
    browser.refresh_token()
    return browser


def post_login(browser: Browser, email: str, password: str):
    return browser.client.post("/auth/login", data={"email": email, "password": password,
                                                    "csrf_token": browser.token})


def in_parallel(app, attempts: list[tuple[str, str, str]]) -> list:
    """(address, email, password) each from its own thread, released at the same moment."""
    browsers = [browser_at(app, address) for address, _, _ in attempts]
    start, answers = threading.Barrier(len(attempts)), [None] * len(attempts)

    def attempt(i):
        start.wait()
        _, email, password = attempts[i]
        response = post_login(browsers[i], email, password)
        answers[i] = (response.status_code, response.get_data(as_text=True))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert all(answers), "an attempt did not finish"
    return answers


def checked(answers) -> int:
    """Attempts that got as far as a password check (signed in, or 'not recognised')."""
    return sum(1 for status, page in answers if status == 302 or "not recognised" in page)


def wrong_checked(answers) -> int:
    """Wrong passwords that were checked: what the limit bounds (a success is not a failure)."""
    return sum(1 for status, page in answers if status != 302 and "not recognised" in page)


def test_fifty_parallel_attempts_on_one_account_check_at_most_the_limit(app, school):
    email = "head@testschool.test"
    attempts = [("192.0.2.10", email, PASSWORD if i == RIGHT_ONE else f"guess-{i}")
                for i in range(PARALLEL)]
    answers = in_parallel(app, attempts)
    # At most MAX_FAILED_LOGINS wrong guesses are checked. The right password, if its turn came
    # among them, is checked too: once it has succeeded it no longer counts as a failure.
    assert wrong_checked(answers) <= MAX_FAILED_LOGINS, wrong_checked(answers)
    assert checked(answers) - wrong_checked(answers) <= 1
    from gatekeeper.extensions import db

    with app.app_context():
        key = account_key(email)
        recorded = db.session.scalar(select(func.count()).select_from(LoginFailure).where(
            LoginFailure.account_key == key))
        failed = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "login_failed"))
    assert recorded == PARALLEL  # no lost update: every attempt is counted
    assert failed <= MAX_FAILED_LOGINS


def test_signing_in_forgives_the_mistypes_before_it_but_not_a_burst_beside_it(app, school):
    email, desk = "head@testschool.test", "198.51.100.40"
    for _ in range(MAX_FAILED_LOGINS - 1):  # a head mistypes four times, then gets it right
        post_login(browser_at(app, desk), email, "mistyped")
    assert post_login(browser_at(app, desk), email, PASSWORD).status_code == 302
    # Forgiven: the next mistypes are checked again ("not recognised"), up to the limit.
    pages = [post_login(browser_at(app, desk), email, "mistyped").get_data(as_text=True)
             for _ in range(MAX_FAILED_LOGINS + 1)]
    assert all("not recognised" in page for page in pages[:MAX_FAILED_LOGINS])
    assert "Too many failed attempts" in pages[-1]
    # Beside an attempt still being checked (a burst of guesses), the right password forgives
    # nothing: the next mistype is checked, the one after it is refused, as without the success.
    email, burst = "dsl@testschool.test", "198.51.100.41"  # another account: its own delay
    for _ in range(MAX_FAILED_LOGINS - 2):
        post_login(browser_at(app, burst), email, "guess")
    with app.app_context():
        db.session.add(LoginFailure(address=burst, account_key=account_key(email),
                                    outcome="pending"))
        db.session.commit()
    assert post_login(browser_at(app, burst), email, PASSWORD).status_code == 302
    assert "not recognised" in post_login(browser_at(app, burst), email, "guess").get_data(
        as_text=True)
    assert "Too many failed attempts" in post_login(browser_at(app, burst), email,
                                                    "guess").get_data(as_text=True)


def test_fifty_parallel_guesses_from_one_address_stay_under_its_cap(app, school):
    attempts = [("203.0.113.50", f"guess{i}@testschool.test", "password1") for i in range(PARALLEL)]
    answers = in_parallel(app, attempts)
    assert checked(answers) <= MAX_FAILURES_PER_ADDRESS, checked(answers)
    assert any("Too many failed sign-ins from this network" in page for _, page in answers)


def answer_and_time(app, address: str, email: str, password: str = "wrong") -> tuple[str, float]:
    browser = browser_at(app, address)
    started = time.perf_counter()
    response = post_login(browser, email, password)
    elapsed = time.perf_counter() - started
    page = response.get_data(as_text=True)
    return TOKEN_ATTR.sub("", page.split("<main", 1)[-1]), elapsed


def test_real_and_unknown_accounts_answer_alike_in_about_the_same_time(app, school):
    real, unknown = "dsl@testschool.test", "nobody@testschool.test"
    # At production's hash cost, as a school runs it: the one hash every answer runs is what makes
    # them take alike. At the suite's lighter cost (a few ms) a busy machine's noise outweighs it.
    app.config["PASSWORD_HASH_METHOD"] = PASSWORD_HASH_METHOD
    dummy_hash(PASSWORD_HASH_METHOD)  # made once per process: not part of the first answer's time
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == real))
        user.password_hash = hash_password(PASSWORD)
        db.session.commit()
    times = {real: [], unknown: []}
    answers = {real: [], unknown: []}
    # Both before and after the limit: the sixth attempt is where the report told them apart.
    for _ in range(MAX_FAILED_LOGINS + 3):
        for email, address in ((real, "198.51.100.1"), (unknown, "198.51.100.2")):
            page, elapsed = answer_and_time(app, address, email)
            answers[email].append(page)
            times[email].append(elapsed)
    assert answers[real] == answers[unknown]
    assert "Too many failed attempts" in answers[real][-1]
    # The fastest of each part is its own cost: the other tests beside it on a busy machine only
    # ever add time, and a median of five took one unlucky stretch for a difference (248 ms
    # against 120 ms under CI). A path that skips the hash would still show as a tenth.
    for part in (slice(0, MAX_FAILED_LOGINS), slice(MAX_FAILED_LOGINS, None)):
        a, b = min(times[real][part]), min(times[unknown][part])
        assert 0.5 < a / b < 2, (part, a, b)  # the report measured 17 ms against 180 ms


def test_a_stranger_cannot_lock_the_head_out_but_is_slowed(app, school):
    head = "head@testschool.test"
    own_desk = "198.51.100.20"
    assert post_login(browser_at(app, own_desk), head, PASSWORD).status_code == 302
    # A stranger fails from one address, then from many: each is soon refused.
    for _ in range(MAX_FAILED_LOGINS + 2):
        post_login(browser_at(app, "203.0.113.7"), head, "guess")
    for n in range(MAX_FAILED_LOGINS + 2):
        post_login(browser_at(app, f"203.0.114.{n}"), head, "guess")
    refused = post_login(browser_at(app, "203.0.115.1"), head, PASSWORD)
    assert refused.status_code == 200 and "Too many failed attempts" in refused.get_data(
        as_text=True)  # even the right password waits, from an address never used
    # The head at their own computer signs in as usual.
    assert post_login(browser_at(app, own_desk), head, PASSWORD).status_code == 302


def test_failed_sign_ins_keep_a_hash_of_the_typed_address_not_the_text(app, school):
    typed = "my-password-typed-in-the-wrong-box"
    post_login(browser_at(app, "198.51.100.9"), typed, "x")
    from gatekeeper.extensions import db

    with app.app_context():
        trail = " ".join(e.detail_json for e in db.session.scalars(select(AuditEvent)))
        rows = db.session.scalars(select(LoginFailure)).all()
        key = account_key(typed)
    assert typed not in trail
    assert key[:16] in trail
    assert [r.outcome for r in rows] == [FAILED]


def post_change(browser: Browser, current: str, new: str = "a new and long password"):
    browser.refresh_token("/account/password")
    return browser.client.post("/account/password", data={
        "current": current, "password": new, "confirm": new, "csrf_token": browser.token})


def audited(app, action: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.detail_json).where(
            AuditEvent.action == action)))


def test_wrong_current_passwords_on_the_change_form_count_as_failed_sign_ins(app, school):
    # A signed-in session left open is no way to guess its owner's password: each wrong current
    # password is a failed sign-in for the account from that address.
    email, desk = "staff@testschool.test", "192.0.2.60"
    session = browser_at(app, desk)
    assert session.login(email).status_code == 302
    for n in range(MAX_FAILED_LOGINS):
        page = post_change(session, f"guess-{n}").get_data(as_text=True)
        assert "Your current password is not right" in page
    refused = post_change(session, PASSWORD).get_data(as_text=True)  # even the right one waits
    assert "Too many failed attempts. Try again in 15 minutes." in refused
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.email == email))
    assert check_password_hash(stored, PASSWORD)  # unchanged
    assert "Too many failed attempts" in post_login(browser_at(app, desk), email,
                                                    PASSWORD).get_data(as_text=True)
    failed = audited(app, "password_change_failed")
    assert len(failed) == MAX_FAILED_LOGINS and desk in failed[0]
    assert len(audited(app, "password_change_throttled")) == 1
    session.client.post("/auth/language/cy", data={"csrf_token": session.token})
    assert "Gormod o ymdrechion aflwyddiannus" in post_change(session, PASSWORD).get_data(
        as_text=True)


def test_the_change_form_is_held_by_its_addresses_cap_and_a_right_password_still_works(
        app, school):
    email, staffroom = "staff@testschool.test", "192.0.2.61"
    session = browser_at(app, staffroom)
    assert session.login(email).status_code == 302
    # One mistype, then the right password (and a new one too short): neither is held against
    # the next try.
    assert "not right" in post_change(session, "mistyped").get_data(as_text=True)
    assert "characters long" in post_change(session, PASSWORD, "short").get_data(as_text=True)
    with app.app_context():
        outcomes = db.session.scalars(select(LoginFailure.outcome).where(
            LoginFailure.address == staffroom).order_by(LoginFailure.id)).all()
    assert outcomes == ["ok", "cleared", "ok"]
    for n in range(MAX_FAILURES_PER_ADDRESS + 1):  # guesses at other accounts from that address
        post_login(browser_at(app, staffroom), f"guess{n}@testschool.test", "guess")
    page = post_change(session, PASSWORD).get_data(as_text=True)
    assert "Too many failed sign-ins from this network" in page


def test_guesses_from_many_addresses_of_one_ipv6_network_share_its_cap(app, school):
    # Whoever holds one address of an IPv6 /64 network holds them all.
    pages = [post_login(browser_at(app, f"2001:db8:5:6::{n:x}"), f"guess{n}@testschool.test",
                        "guess").get_data(as_text=True)
             for n in range(MAX_FAILURES_PER_ADDRESS + 1)]
    assert "Too many failed sign-ins from this network" in pages[-1]
    assert "not recognised" in post_login(browser_at(app, "2001:db8:5:7::1"), "x@testschool.test",
                                          "guess").get_data(as_text=True)
