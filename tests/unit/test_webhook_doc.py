"""docs/webhook.md's verify() (issue 15, finding 10): the very code a school copies accepts what
Gatekeeper sends, refuses a changed event or key, is constant-time, and never raises (the old
version raised TypeError on a non-ASCII signature header)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_adapter_redirects import Server
from test_adapters import SECRET, release

from gatekeeper.publishing.adapters import WebhookPublisher

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhook.md"


def documented_verify():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    code = next(b for b in blocks if "def verify(" in b)
    assert "compare_digest" in code  # constant-time
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


verify = documented_verify()


def delivered() -> tuple[dict, bytes]:
    with Server() as receiver:
        WebhookPublisher(f"http://127.0.0.1:{receiver.port}/hook", SECRET).publish(release())
    _, _, headers, body = receiver.seen[0]
    return headers, body


def test_the_documented_check_accepts_a_real_delivery_and_nothing_changed():
    headers, body = delivered()
    assert verify(SECRET, headers, body)
    assert not verify("another secret", headers, body)
    assert not verify(SECRET, {**headers, "X-Gatekeeper-Event": "post.delete"}, body)
    assert not verify(SECRET, {**headers, "Idempotency-Key": "another-key"}, body)
    assert not verify(SECRET, headers, body + b" ")
    stale = {**headers, "X-Gatekeeper-Timestamp": str(int(time.time()) - 3600)}
    assert not verify(SECRET, stale, body)


def test_the_documented_check_refuses_hostile_headers_without_raising():
    headers, body = delivered()
    for hostile in ({**headers, "X-Gatekeeper-Signature": "sha256=é" + "0" * 63},
                    {**headers, "X-Gatekeeper-Signature": "🙂"},
                    {**headers, "X-Gatekeeper-Timestamp": "²"},
                    {**headers, "X-Gatekeeper-Timestamp": "9" * 400},
                    {}, {"X-Gatekeeper-Signature": None}):
        assert verify(SECRET, hostile, body) is False
    assert verify(SECRET, None, body) is False
    assert verify(SECRET, headers, "not bytes") is False


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["X-Gatekeeper-Timestamp", "X-Gatekeeper-Signature",
                                        "X-Gatekeeper-Event", "Idempotency-Key", "Other"]),
                       st.one_of(st.text(), st.none(), st.integers())),
       st.binary(max_size=64))
def test_the_documented_check_never_raises(headers, body):
    assert verify(SECRET, headers, body) is False
