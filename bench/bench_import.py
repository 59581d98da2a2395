"""Import benchmark: a 2,000-pupil MIS export, every optional column filled, into a fresh register.

Times what `gatekeeper pupils import FILE.csv` does after start-up: read and check every row, plan
against the register, write pupils, consent and biometric records and the audit trail, commit.
Then imports the same file again (which must change nothing). Ends with exactly one line:
bench-import: pupils=2000 seconds=X
and exits 1 if the first import took TARGET_S seconds or more.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PUPILS = 2000
TARGET_S = 10.0
YEARS = ("R", "1", "2", "3", "4", "5", "6")


def export(purposes: tuple[str, ...]) -> bytes:
    """A SIMS-style export: legal names, UK dates, 'Year N', yes/no/empty answers."""
    from gatekeeper.ops.setup import demo_upn

    header = ["UPN", "Legal Forename", "Legal Surname", "DOB", "NC Year Actual",
              *(f"consent_{p}" for p in purposes), "biometric_consent"]
    lines = [",".join(header)]
    for i in range(1, PUPILS + 1):
        answers = [("yes", "no", "")[(i + n) % 3] for n in range(len(purposes))]
        lines.append(",".join([demo_upn(i), f"Pupil{i}", f"Surname{i % 397}",
                               f"{i % 28 + 1:02d}/{i % 12 + 1:02d}/{2014 + i % 7}",
                               f"Year {YEARS[i % 7]}", *answers, ("yes", "")[i % 2]]))
    return "\r\n".join(lines).encode()


def timed_import(app, school_id: int, data: bytes) -> tuple[float, object]:
    from gatekeeper.extensions import db
    from gatekeeper.register.actions import import_pupils
    from gatekeeper.register.forms import today

    start = time.perf_counter()
    with app.app_context():
        plan = import_pupils(db.session, school_id, data, purposes=app.config["PURPOSES"],
                             today=today(), full=True, apply=True, actor="bench")
        db.session.commit()
        summary, ok = plan.summary(), plan.ok
    return time.perf_counter() - start, (summary, ok)


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["GATEKEEPER_INSTANCE"] = folder
        os.environ.pop("DATABASE_URL", None)
        from gatekeeper.app import create_app
        from gatekeeper.extensions import db
        from gatekeeper.ops.setup import migrate_database
        from tests.support.fixtures import make_school

        app = create_app({"INSTANCE": Path(folder)}, config_name="test")
        with app.app_context():
            migrate_database()
            school_id = make_school(db.session, "Bench School").id
        data = export(tuple(app.config["PURPOSES"]))
        seconds, (summary, ok) = timed_import(app, school_id, data)
        again, (summary_again, _) = timed_import(app, school_id, data)
        with app.app_context():
            db.engine.dispose()
    print(f"  first import: {summary} ({len(data) / 1024:.0f} KB, SQLite, ok={ok})")
    print(f"  same file again: {summary_again} in {again:.2f} s; target < {TARGET_S:.0f} s")
    print(f"bench-import: pupils={PUPILS} seconds={seconds:.2f}")
    return 0 if ok and seconds < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
