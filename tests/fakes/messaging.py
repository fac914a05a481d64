"""Local stand-ins for Twilio's Messages API, Google's OAuth token endpoint with FCM HTTP v1,
and a Web Push service, speaking their wire formats, errors included.

Twilio: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form, basic auth) → 201 with the
message resource; the number ``+15005550001`` answers Twilio's 21211 (invalid 'To'), numbers
in ``busy`` get 429 (code 20429) until taken out. FCM: ``POST /token`` takes the service
account's signed JWT assertion (checked against its public key) and returns a bearer token;
``POST /v1/projects/{p}/messages:send`` wants that bearer; the registration token ``gone``
answers 404 ``UNREGISTERED``, ``busy`` 429 ``QUOTA_EXCEEDED``. Web Push: ``POST /push/{id}``
records the encrypted body with its VAPID and encoding headers; id ``gone`` answers 410.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-test-token"
INVALID_NUMBER = "+15005550001"
PROJECT = "studioflow-test"


@dataclass
class FakeMessaging:
    base_url: str = ""
    sms: list[dict[str, str]] = field(default_factory=list)
    fcm: list[dict[str, Any]] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    busy: set[str] = field(default_factory=set)
    token_requests: int = 0
    _tokens: set[str] = field(default_factory=set)
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def service_account(self) -> dict[str, str]:
        """A service account key file's JSON, its token URI this fake."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": f"{self.base_url}/token",
        }

    # --- Twilio ---------------------------------------------------------------------------

    async def twilio_send(self, request: Request) -> Response:
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse(
                {"code": 20003, "message": "Authenticate", "more_info": "", "status": 401},
                status_code=401,
            )
        form = await request.form()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if to == INVALID_NUMBER:
            return JSONResponse(
                {"code": 21211, "message": f"The 'To' number {to} is not a valid phone number.",
                 "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400},
                status_code=400,
            )  # fmt: skip
        if to in self.busy:
            return JSONResponse(
                {"code": 20429, "message": "Too Many Requests", "more_info": "", "status": 429},
                status_code=429,
                headers={"Retry-After": "1"},
            )
        sid = "SM" + secrets.token_hex(16)
        self.sms.append({"to": to, "body": body, "from": str(form.get("From", "")), "sid": sid})
        return JSONResponse(
            {"sid": sid, "status": "queued", "to": to, "body": body,
             "account_sid": TWILIO_SID, "date_created": "Mon, 07 Dec 2026 17:00:00 +0000"},
            status_code=201,
        )  # fmt: skip

    # --- Google OAuth and FCM -------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                self._key.public_key(),
                algorithms=["RS256"],
                audience="https://oauth2.googleapis.com/token",  # what Google checks
            )
        except jwt.PyJWTError as error:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": str(error)}, status_code=400
            )
        if "firebase.messaging" not in claims.get("scope", ""):
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        self.token_requests += 1
        access = "ya29." + secrets.token_urlsafe(24)
        self._tokens.add(access)
        return JSONResponse({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    async def fcm_send(self, request: Request) -> Response:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self._tokens:
            return _fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")
        message = (await request.json())["message"]
        token = message["token"]
        if token == "gone":
            return _fcm_error(404, "NOT_FOUND", "UNREGISTERED")
        if token == "busy":
            return _fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
        self.fcm.append(message)
        name = f"projects/{request.path_params['project']}/messages/{secrets.randbelow(10**12)}"
        return JSONResponse({"name": name})

    # --- Web Push -------------------------------------------------------------------------

    async def push(self, request: Request) -> Response:
        if request.path_params["id"] == "gone":
            return Response(status_code=410)
        self.pushes.append(
            {
                "id": request.path_params["id"],
                "body": await request.body(),
                "authorization": request.headers.get("authorization", ""),
                "encoding": request.headers.get("content-encoding", ""),
                "ttl": request.headers.get("ttl", ""),
            }
        )
        return Response(status_code=201)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/2010-04-01/Accounts/{sid}/Messages.json", self.twilio_send, methods=["POST"]
                ),
                Route("/token", self.token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self.fcm_send, methods=["POST"]),
                Route("/push/{id}", self.push, methods=["POST"]),
            ]
        )


def _fcm_error(status: int, name: str, code: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": status,
                "message": "Requested entity was not found." if status == 404 else name,
                "status": name,
                "details": [
                    {
                        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": code,
                    }
                ],
            }
        },
        status_code=status,
    )


def browser_subscription(base_url: str, device: str) -> tuple[dict[str, Any], Any, bytes]:
    """A browser's PushSubscription for ``/push/{device}`` on the fake, with the private key
    and auth secret that decrypt what is pushed to it (as the browser would)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = secrets.token_bytes(16)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    subscription = {
        "endpoint": f"{base_url}/push/{device}",
        "keys": {"p256dh": b64(public), "auth": b64(auth)},
    }
    return subscription, key, auth


def decrypt_push(body: bytes, key: Any, auth: bytes) -> dict[str, Any]:
    import http_ece

    plain: bytes = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
    decoded: dict[str, Any] = json.loads(plain)
    return decoded
