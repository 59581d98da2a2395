"""A small OpenID Connect provider on 127.0.0.1 for tests: discovery, published keys, authorize and
token endpoints, RS256-signed ID tokens. It checks the client, the redirect address and PKCE (S256)
as a real provider does, and can be told to misbehave (a tampered, expired, other-audience,
other-key or wrong-nonce token) so the test sees Gatekeeper refuse it."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

MODES = ("expired", "other_audience", "tampered", "other_key", "wrong_nonce", "wrong_issuer",
         "no_email_verified")


class Provider:
    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.impostor = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.client_id, self.client_secret = "gatekeeper-test", "secret-" + secrets.token_hex(8)
        self.codes: dict[str, dict] = {}
        self.person = {"email": "", "email_verified": True}
        self.person_extra: dict = {}  # claims a test changes for the next person (email_verified)
        self.mode: str | None = None
        self.token_requests: list[dict] = []
        self.id_tokens: list[str] = []  # every ID token it gave out
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(5)

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def wsgi(self, environ, start_response):
        request = Request(environ)
        routes = {"/.well-known/openid-configuration": self.discovery, "/jwks": self.jwks,
                  "/authorize": self.authorize, "/token": self.token}
        handler = routes.get(request.path)
        response = handler(request) if handler else Response("not found", 404)
        return response(environ, start_response)

    def discovery(self, request: Request) -> Response:
        return json_response({"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                              "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                              "id_token_signing_alg_values_supported": ["RS256"]})

    def jwks(self, request: Request) -> Response:
        return json_response({"keys": [self.key.as_dict(private=False)]})

    def authorize(self, request: Request) -> Response:
        args = request.args
        if (args.get("client_id") != self.client_id or args.get("response_type") != "code"
                or args.get("code_challenge_method") != "S256" or not args.get("code_challenge")
                or "openid" not in args.get("scope", "").split()):
            return json_response({"error": "invalid_request"}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": args["code_challenge"], "nonce": args.get("nonce", ""),
                            "redirect_uri": args["redirect_uri"], "person": dict(self.person)}
        back = f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args.get('state', '')})}"
        return Response("", 302, headers={"Location": back})

    def token(self, request: Request) -> Response:
        form = request.form
        self.token_requests.append(dict(form))
        grant = self.codes.pop(form.get("code", ""), None)
        if (grant is None or form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret
                or form.get("redirect_uri") != grant["redirect_uri"]
                or create_s256_code_challenge(form.get("code_verifier", "")) != grant["challenge"]):
            return json_response({"error": "invalid_grant"}, 400)
        self.id_tokens.append(self.id_token(grant))
        return json_response({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                              "id_token": self.id_tokens[-1]})

    def id_token(self, grant: dict) -> str:
        now, mode = int(time.time()), self.mode
        claims = {"iss": self.url, "sub": "person-1", "aud": self.client_id, "iat": now,
                  "exp": now + 300, "nonce": grant["nonce"], "email": grant["person"]["email"],
                  "email_verified": grant["person"]["email_verified"]}
        if mode == "expired":
            claims.update(iat=now - 3600, exp=now - 1800)
        elif mode == "other_audience":
            claims["aud"] = "another-client"
        elif mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif mode == "wrong_issuer":
            claims["iss"] = "https://evil.example"
        elif mode == "no_email_verified":
            del claims["email_verified"]
        key = self.impostor if mode == "other_key" else self.key
        token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        if mode == "tampered":
            header, payload, signature = token.split(".")
            forged = dict(claims, email="head@testschool.test")
            payload = jwt_b64(json.dumps(forged).encode())
            token = ".".join((header, payload, signature))
        return token


def jwt_b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def json_response(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def provider_answer(authorize_url: str) -> str:
    """Open the provider's authorize address as the browser would; where it sends the browser
    back."""
    opener = urllib.request.build_opener(NoRedirects)
    try:
        opener.open(authorize_url, timeout=10)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302, redirect.read()
        return redirect.headers["Location"]
    raise AssertionError("the provider did not redirect back")
