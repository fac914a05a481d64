"""A local stand-in for Google's OpenID Connect and GitHub's OAuth 2, on loopback.

It speaks their wire formats: OIDC discovery, JWKS, RS256 ID tokens with nonce, PKCE (S256)
checks at the token endpoint, GitHub's ``/login/oauth/*`` and ``/user`` + ``/user/emails``,
and their error answers (``invalid_grant``, 401). The authorisation page approves at once
for the user the test put in ``next_user``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "studioflow-test-client"
CLIENT_SECRET = "studioflow-test-secret"


@dataclass
class Grant:
    provider: str
    user: dict[str, Any]
    challenge: str
    redirect_uri: str
    nonce: str | None


@dataclass
class FakeOAuth:
    port: int
    next_user: dict[str, Any] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    fail_token: bool = False

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Shared -------------------------------------------------------------------------------

    def _authorize(self, request: Request, provider: str) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "PKCE required"}, status_code=400
            )
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            provider, dict(self.next_user), q["code_challenge"], q["redirect_uri"], q.get("nonce")
        )
        return RedirectResponse(
            f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}", 302
        )

    async def _exchange(
        self, request: Request, provider: str
    ) -> tuple[Grant | None, dict[str, Any] | None]:
        form = await request.form()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return None, {"error": "invalid_client"}
        grant = self.grants.pop(str(form.get("code", "")), None)
        if grant is None or grant.provider != provider or self.fail_token:
            return None, {"error": "invalid_grant", "error_description": "Bad code"}
        verifier = str(form.get("code_verifier", ""))
        digest = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        if digest != grant.challenge or form.get("redirect_uri") != grant.redirect_uri:
            return None, {
                "error": "invalid_grant",
                "error_description": "PKCE or redirect mismatch",
            }
        return grant, None

    # Google -------------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.base,
                "authorization_endpoint": f"{self.base}/o/oauth2/v2/auth",
                "token_endpoint": f"{self.base}/token",
                "jwks_uri": f"{self.base}/oauth2/v3/certs",
                "userinfo_endpoint": f"{self.base}/v1/userinfo",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return JSONResponse({"keys": [public]})

    async def google_authorize(self, request: Request) -> Response:
        return self._authorize(request, "google")

    async def google_token(self, request: Request) -> Response:
        grant, error = await self._exchange(request, "google")
        if grant is None:
            return JSONResponse(error, status_code=400)
        now = int(time.time())
        claims = {
            "iss": self.base,
            "aud": CLIENT_ID,
            "sub": grant.user["sub"],
            "email": grant.user.get("email"),
            "email_verified": grant.user.get("email_verified", True),
            "nonce": grant.nonce,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(self.id_token_overrides)
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 3599,
                "scope": "openid email profile",
                "id_token": id_token,
            }
        )

    # GitHub -------------------------------------------------------------------------------

    async def github_authorize(self, request: Request) -> Response:
        return self._authorize(request, "github")

    async def github_token(self, request: Request) -> Response:
        grant, error = await self._exchange(request, "github")
        if grant is None:
            # GitHub answers errors with 200 and an error body.
            return JSONResponse(error)
        token = "gho_" + secrets.token_urlsafe(20)
        self.tokens[token] = grant.user
        body = {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(body)
        return Response(urlencode(body), media_type="application/x-www-form-urlencoded")

    def _github_user(self, request: Request) -> dict[str, Any] | None:
        auth = request.headers.get("authorization", "")
        return self.tokens.get(auth.removeprefix("Bearer ").removeprefix("token "))

    async def github_user(self, request: Request) -> Response:
        user = self._github_user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials", "status": "401"}, status_code=401)
        return JSONResponse({"id": user["id"], "login": user["login"], "email": None})

    async def github_emails(self, request: Request) -> Response:
        user = self._github_user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials", "status": "401"}, status_code=401)
        return JSONResponse(
            [
                {
                    "email": f"{user['login']}@users.noreply.github.com",
                    "primary": False,
                    "verified": True,
                },
                {"email": user["email"], "primary": True, "verified": user.get("verified", True)},
            ]
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/oauth2/v3/certs", self.jwks),
                Route("/o/oauth2/v2/auth", self.google_authorize),
                Route("/token", self.google_token, methods=["POST"]),
                Route("/login/oauth/authorize", self.github_authorize),
                Route("/login/oauth/access_token", self.github_token, methods=["POST"]),
                Route("/api/user", self.github_user),
                Route("/api/user/emails", self.github_emails),
            ]
        )


class ServerThread:
    """Runs an ASGI app with uvicorn in a background thread on loopback."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
