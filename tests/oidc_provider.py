"""A minimal OpenID provider on loopback, for the tests: Authlib's own server-side components behind Starlette, run
by uvicorn in a thread.

    with OidcTestProvider(client_id="opentr", client_secret="s3cret") as op:
        op.user = {"sub": "u1", "email": "a@example.org", "email_verified": True, "name": "…", "groups": ["staff"]}
        ... op.issuer, op.rotate_keys(), op.tamper = {"aud": "someone-else"}, op.sign_with = other_key ...

It follows the spec where the client can tell: discovery, JWKS (keys rotate), the authorization endpoint (the user
the test set is signed in and consents at once), the token endpoint (authorization code + PKCE S256, a code used
once only; client_secret_basic or _post), userinfo, and RP-initiated logout. What a test wants to go wrong (a
forged signature, an expired token, another audience, issuer or nonce) is set on the provider before the sign-in.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route


def new_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or secrets.token_hex(6), "use": "sig", "alg": "RS256"})


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)  # empty: any loopback/testserver callback
    client_metadata: dict[str, Any] = field(default_factory=dict)
    provider: Any = None  # the OidcTestProvider: which ways of sending the secret it takes now

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri.endswith("/callback")

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.provider.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: dict[str, Any]
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: Request, body: bytes) -> None:
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._args = dict(request.query_params)
        self._form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if body else {}
        self.payload = BasicOAuth2Payload({**self._args, **self._form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class OidcTestProvider:
    def __init__(self, client_id: str = "opentr", client_secret: str = "s3cret-for-tests") -> None:
        self.client = _Client(client_id, client_secret, provider=self)
        self.keys: list[RSAKey] = [new_key()]
        self.user: dict[str, Any] = {"sub": "user-1", "email": "sso@example.org", "email_verified": True}
        self.tamper: dict[str, Any] = {}  # claims forced into the next ID tokens
        self.sign_with: RSAKey | None = None  # sign the next ID tokens with this key instead (a forgery)
        self.codes: dict[str, _Code] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.jwks_hits = 0
        self.token_hits = 0
        self.ended: list[dict[str, Any]] = []
        self.deny: str | None = None  # an error for the authorization endpoint to answer
        self.userinfo_only: set[str] = set()  # claims left out of the ID token, given by the userinfo endpoint only
        self.auth_methods: list[str] = ["client_secret_basic", "client_secret_post"]  # how the secret may come
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.server = self._authorization_server()
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- keys -------------------------------------------------------------------------------------------------------

    @property
    def signing_key(self) -> RSAKey:
        return self.keys[-1]

    def rotate_keys(self) -> RSAKey:
        """A new signing key; the old ones are no longer published."""
        self.keys = [new_key()]
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet(list(self.keys)).as_dict(private=False))

    # --- Authlib's server -------------------------------------------------------------------------------------------

    def _authorization_server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):  # type: ignore[misc]
            def query_client(self, client_id: str) -> _Client | None:
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
                provider.tokens[token["access_token"]] = {"user": dict(request.user), **token}

            def create_oauth2_request(self, request: Any) -> OAuth2Request:
                return request

            def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
                if isinstance(body, dict):
                    return JSONResponse(body, status_code=status, headers=dict(headers))
                return Response(body or "", status_code=status, headers=dict(headers))

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

        class Grant(AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
                data = request.payload.data
                provider.codes[code] = _Code(
                    code,
                    request.client.client_id,
                    data.get("redirect_uri", ""),
                    request.payload.scope or "",
                    data.get("nonce"),
                    data.get("code_challenge"),
                    data.get("code_challenge_method"),
                    dict(request.user),
                )

            def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
                found = provider.codes.get(code)
                return found if found is not None and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                provider.codes.pop(authorization_code.code, None)  # single use

            def authenticate_user(self, authorization_code: _Code) -> dict[str, Any]:
                return authorization_code.user

        class OpenID(OpenIDCode):  # type: ignore[misc]
            def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
                return any(code.nonce == nonce for code in provider.codes.values())

            def resolve_client_private_key(self, client: _Client) -> RSAKey:
                return provider.sign_with or provider.signing_key

            def get_encode_header(self, client: _Client) -> dict[str, str]:
                key = provider.sign_with or provider.signing_key
                return {"alg": "RS256", "kid": str(key.kid)}

            def get_client_claims(self, client: _Client) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [client.client_id]}

            def generate_user_info(self, user: dict[str, Any], scope: str) -> dict[str, Any]:
                claims = {k: v for k, v in user.items() if k not in provider.userinfo_only}
                return {**claims, **provider.tamper}  # applied last: a test's tampering wins

        class EndSession(EndSessionEndpoint):  # type: ignore[misc]
            def get_server_jwks(self) -> dict[str, Any]:
                return provider.jwks()

            def end_session(self, end_session_request: Any) -> None:
                provider.ended.append(
                    {"claims": end_session_request.id_token_claims, "redirect": end_session_request.redirect_uri}
                )

        server = Server(scopes_supported=["openid", "email", "profile", "groups"])
        server.register_grant(Grant, [CodeChallenge(required=True), OpenID(require_nonce=True)])
        server.register_endpoint(EndSession)
        server.register_token_generator("default", self._bearer)
        return server

    def _bearer(
        self, grant_type: str, client: _Client, user: Any = None, scope: str | None = None, **_: Any
    ) -> dict[str, Any]:
        return {"token_type": "Bearer", "access_token": secrets.token_urlsafe(24), "expires_in": 3600, "scope": scope}

    # --- HTTP -------------------------------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
        }

    def app(self) -> Starlette:
        async def well_known(request: Request) -> Response:
            return JSONResponse(self.discovery())

        async def jwks(request: Request) -> Response:
            self.jwks_hits += 1
            return JSONResponse(self.jwks())

        async def authorize(request: Request) -> Response:
            oauth = _Request(request, b"")
            if self.deny:
                redirect = request.query_params.get("redirect_uri", "")
                state = request.query_params.get("state", "")
                return RedirectResponse(f"{redirect}?error={self.deny}&state={state}", status_code=302)
            try:
                grant = self.server.get_consent_grant(oauth, end_user=dict(self.user))
            except OAuth2Error as error:
                return PlainTextResponse(f"{error.error}: {error.description}", status_code=400)
            answer: Response = self.server.create_authorization_response(oauth, grant_user=dict(self.user), grant=grant)
            return answer

        async def token(request: Request) -> Response:
            self.token_hits += 1
            answer: Response = self.server.create_token_response(_Request(request, await request.body()))
            return answer

        async def userinfo(request: Request) -> Response:
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            issued = self.tokens.get(bearer)
            if issued is None:
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            return JSONResponse(issued["user"])

        async def logout(request: Request) -> Response:
            oauth = _Request(request, await request.body())
            try:
                answer = self.server.create_endpoint_response("end_session", oauth)
            except OAuth2Error as error:
                return PlainTextResponse(f"{error.error}: {error.description}", status_code=400)
            return answer or PlainTextResponse("signed out")

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", well_known),
                Route("/jwks", jwks),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/userinfo", userinfo),
                Route("/logout", logout, methods=["GET", "POST"]),
            ]
        )

    def allow_post_logout_redirect(self, uri: str) -> None:
        self.client.client_metadata["post_logout_redirect_uris"] = [uri]

    def __enter__(self) -> OidcTestProvider:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._uvicorn.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test OpenID provider did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._uvicorn is not None and self._thread is not None
        self._uvicorn.should_exit = True
        self._thread.join(10)

    def settings_entry(self, name: str, label: str, **extra: Any) -> dict[str, Any]:
        """This provider as one item of OPENTR_OIDC_PROVIDERS."""
        return {
            "name": name,
            "label": label,
            "issuer": self.issuer,
            "client_id": self.client.client_id,
            "client_secret": self.client.client_secret,
            **extra,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_json(value: Any) -> str:
    return json.dumps(value)
