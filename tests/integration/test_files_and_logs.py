"""Files and logs (issue 15, finding 8): the instance folder and everything in it is owner-only
even under a permissive umask, and the access log of the real web server (gunicorn) names a parent
link by its id, never by its token, and never holds a school sign-in's one-time code or state."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gatekeeper.web.security import SECRET_QUERY_NAMES, link_id, redact_tokens

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(args, env, **kwargs):
    return subprocess.run([str(BIN / "gatekeeper"), *args], env=env, capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: os.umask(0o022), **kwargs)


@pytest.fixture
def instance_env(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    (instance / "audit.anchor").write_text("left by an older version\n")
    (instance / "audit.anchor").chmod(0o644)
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(instance), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return instance, env


def loose(instance: Path) -> list[str]:
    found = []
    for path in [instance, *instance.rglob("*")]:
        if not path.is_symlink() and path.stat().st_mode & 0o077:
            found.append(f"{path.relative_to(instance.parent)} {oct(path.stat().st_mode & 0o777)}")
    return found


@pytest.mark.once
def test_the_instance_is_owner_only_under_a_permissive_umask(instance_env):
    instance, env = instance_env
    assert run(["init"], env).returncode == 0
    result = run(["audit", "verify"], env)
    assert result.returncode == 0, result.stderr
    names = {p.name for p in instance.iterdir()}
    assert {"gatekeeper.db", "secret_key"} <= names, names
    assert loose(instance) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.once
def test_the_web_servers_access_log_names_links_by_id_not_token(instance_env, tmp_path):
    instance, env = instance_env
    assert run(["init"], env).returncode == 0
    if not (BIN / "gunicorn").exists():
        pytest.skip("gunicorn is not installed")
    port, log = free_port(), tmp_path / "access.log"
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", str(log), "--logger-class", "gatekeeper.web.security.RedactingLogger",
         "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    token = "WzEsImFiY2RlZiJd.ZmFrZQ.c2lnbmF0dXJlLXRoYXQtbG9va3MtcmVhbA"
    # What a school's provider sends back: a one-time code and the state, in the query, and its
    # own page (carrying the state) as the referrer.
    code, state = "M.C507_BAY.2.U.one-time-code-1f3a", "state-9c2e7b41d0"
    callback = f"/auth/sso/callback?code={code}&state={state}&session_state=s1"
    provider_page = f"https://login.example/authorize?client_id=c&state={state}&code={code}"
    try:
        for path, referrer in ((f"/parent/{token}?lang=cy", f"http://127.0.0.1:{port}/parent/"
                                f"{token}"), (callback, provider_page)):
            answer(f"http://127.0.0.1:{port}{path}", referrer)
        for _ in range(50):
            if log.exists() and "/auth/sso/" in log.read_text():
                break
            time.sleep(0.1)
    finally:
        server.terminate()
        _out, errors = server.communicate(timeout=30)
    written = log.read_text()
    assert "/parent/" + link_id(token) in written, written
    assert token not in written
    assert "/auth/sso/callback?code=[redacted]&state=[redacted]&session_state=s1" in written
    assert "login.example/authorize?client_id=c&state=[redacted]&code=[redacted]" in written
    for secret in (code, state):  # nor in what the app and gunicorn say on stderr
        assert secret not in written and secret not in errors.decode()


def answer(url: str, referrer: str) -> None:
    """One request to the starting server (waiting until it listens); any status will do."""
    for _ in range(200):
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers={"Referer": referrer}),
                                   timeout=5).close()
            return
        except urllib.error.HTTPError as answered:
            answered.close()
            return
        except OSError:
            time.sleep(0.1)


@pytest.mark.parametrize("token", ["abc.DEF-123_x", "Zm9v.YmFy-baz_1"])
def test_redaction_covers_paths_queries_and_referrers(token):
    # Parent links, invitations and password resets alike.
    for text in (f"GET /parent/{token} HTTP/1.1", f"http://school/parent/{token}?x=1",
                 f'"/parent/{token}"', f"GET /welcome/{token} HTTP/1.1",
                 f"GET /welcome/reset/{token}?x=1 HTTP/1.1", f"https://school/welcome/{token}"):
        assert token not in redact_tokens(text)
        assert link_id(token) in redact_tokens(text)
    assert redact_tokens("/parents/index") == "/parents/index"
    assert redact_tokens("GET /welcome/reset HTTP/1.1") == "GET /welcome/reset HTTP/1.1"


def test_redaction_covers_a_sign_in_providers_code_and_state():
    code, state = "0.AX8A-one-time.code~1", "Zm9vYmFy_state-2"
    for text in (f"GET /auth/sso/callback?code={code}&state={state} HTTP/1.1",
                 f"GET /auth/sso/callback?state={state}&code={code}&iss=x HTTP/1.1",
                 f"code={code}&state={state}",  # the query string alone (%(q)s)
                 f"https://idp.example/authorize?state={state};code={code}#top",
                 f"/auth/sso/callback?error=access_denied&STATE={state}&Code={code}",
                 f"https://idp.example/a?response_type=code&nonce={code}&id_token={state}"):
        assert code not in redact_tokens(text) and state not in redact_tokens(text), text
        assert "[redacted]" in redact_tokens(text)
    # Only those parameters: a "barcode" or an "error" says nothing secret.
    assert redact_tokens("/a?barcode=1&error=access_denied") == "/a?barcode=1&error=access_denied"


def test_the_nginx_example_logs_no_token():
    # deploy/nginx.conf's maps, read with Python's regex engine (PCRE's named groups and
    # ${name} references spelled the Python way), give the same redaction as gunicorn's log.
    import pathlib

    conf = (pathlib.Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf").read_text()
    assert conf.count("access_log /var/log/nginx/gatekeeper.access.log gatekeeper;") == 2
    assert "$gatekeeper_logged_uri $server_protocol" in conf
    assert '"$gatekeeper_logged_referer"' in conf
    assert conf.count(f"(?:{'|'.join(SECRET_QUERY_NAMES)})=") == 2  # the names gunicorn hides
    # Each map: its source, its result, its regexes in order (nginx takes the first that
    # matches), and a default that passes the source on unchanged.
    maps = {}
    for source, result, lines, default in re.findall(
            r"map \$(\w+) \$(\w+) \{\n(.*?)\n\s+default \$(\w+);\n\}", conf, re.S):
        assert default == source
        maps[source] = (result, re.findall(r'^\s+"~(.+?)" "(.+?)";$', lines, re.M))
    logs = {"request_uri": "gatekeeper_logged_uri", "http_referer": "gatekeeper_logged_referer"}

    def logged(source: str, value: str) -> str:
        variable = source
        while variable in maps:  # through each map in turn, as nginx does
            variable, rules = maps[variable]
            for pattern, replacement in rules:
                found = re.search(pattern.replace("(?<", "(?P<"), value)
                if found:
                    value = found.expand(re.sub(r"\$\{(\w+)\}", r"\\g<\1>", replacement))
                    break
        assert variable == logs[source]
        return value

    token = "Zm9v.YmFy-baz_1"
    for path in (f"/parent/{token}", f"/parent/{token}?lang=cy", f"/welcome/{token}",
                 f"/welcome/reset/{token}"):
        assert token not in logged("request_uri", path) and "[token]" in logged("request_uri",
                                                                                  path)
        referrer = "https://gatekeeper.example.sch.uk" + path
        assert token not in logged("http_referer", referrer)
    assert logged("request_uri", "/welcome/reset") == "/welcome/reset"
    assert logged("request_uri", "/uploads/?page=2") == "/uploads/?page=2"
    code, state = "0.AX8A-one-time.code~1", "Zm9vYmFy_state-2"
    for path in (f"/auth/sso/callback?code={code}&state={state}",
                 f"/auth/sso/callback?state={state}&code={code}",
                 f"/auth/sso/callback?error=access_denied&state={state}"):
        assert logged("request_uri", path) == "/auth/sso/callback?[redacted]"
    for referrer in (f"https://idp.example/authorize?client_id=c&state={state}&nonce=n",
                     f"https://gatekeeper.example.sch.uk/auth/sso/callback?code={code}"
                     f"&state={state}"):
        assert code not in logged("http_referer", referrer)
        assert state not in logged("http_referer", referrer)
    assert logged("http_referer", "https://x.example/a?barcode=1") == "https://x.example/a?barcode=1"
