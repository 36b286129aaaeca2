"""The relying party's side of OpenID Connect: what we ask a provider, and what we believe of its answers.

    provider = OidcClient(settings.oidc_provider("corp"), timeout=10)
    url = provider.authorization_url(redirect_uri, state=..., nonce=..., code_verifier=...)
    tokens = provider.exchange_code(code, redirect_uri, code_verifier)      # Authlib's OAuth2Client
    claims = provider.validate_id_token(tokens["id_token"], nonce=expected)  # joserfc

Discovery (`<issuer>/.well-known/openid-configuration`) and the provider's keys (`jwks_uri`) are cached per process
for `METADATA_TTL` seconds. An ID token signed with a key we do not hold (the provider rotated its keys) makes us
fetch the keys once more, but at most once per `JWKS_REFETCH_SECONDS` per provider: a forged token naming an
invented `kid` must not let anyone make us hammer the provider.

Every refusal is an `OidcRefused` carrying a short machine reason (for the audit trail) and a sentence for the
person; a provider that does not answer, or answers nonsense, is `ProviderDown` (503 naming the provider).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from config.settings import OidcProvider
from web.errors import ApiError, ServiceUnavailable

try:  # Authlib's OAuth2Client runs on httpx2 when it is installed, on httpx otherwise: its errors are either's
    from httpx2 import HTTPError as _ClientHTTPError

    CLIENT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, _ClientHTTPError, ValueError)
except ImportError:  # pragma: no cover - depends on what Authlib pulled in
    CLIENT_ERRORS = (httpx.HTTPError, ValueError)

METADATA_TTL = 3600.0  # seconds discovery and keys are trusted before being read again
JWKS_REFETCH_SECONDS = 60.0  # the least time between two key fetches caused by an unknown `kid`
LEEWAY_SECONDS = 60  # clock skew allowed on exp / iat
# Signatures by a key the provider publishes; never "none", never a shared-secret HMAC.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class OidcRefused(ApiError):
    """The provider's answer is not one we accept; `reason` goes on the audit trail."""

    status = 400

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ProviderDown(ServiceUnavailable):
    def __init__(self, provider: OidcProvider, what: str) -> None:
        super().__init__(f"the sign-in provider {provider.label} is not answering ({what}); try again shortly", 30)
        self.reason = "provider unavailable"


@dataclass(frozen=True)
class Metadata:
    """What discovery says of the provider, the parts we use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    token_auth_methods: tuple[str, ...]


@dataclass
class _Cached:
    metadata: Metadata
    keys: KeySet
    fetched_at: float
    refetched_at: float = 0.0  # the last fetch caused by an unknown kid
    lock: threading.Lock = field(default_factory=threading.Lock)


# Per process, keyed by issuer and client: a provider's metadata and keys.
_CACHE: dict[tuple[str, str], _Cached] = {}
_CACHE_LOCK = threading.Lock()


def _segment(value: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    parsed = json.loads(raw)
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    return parsed


def _header(id_token: str) -> dict[str, Any]:
    parts = id_token.split(".")
    if len(parts) != 3:
        raise OidcRefused("malformed id token", "the provider's ID token is not a signed JWT")
    try:
        return _segment(parts[0])
    except ValueError:
        raise OidcRefused("malformed id token", "the provider's ID token header is unreadable") from None


class OidcClient:
    def __init__(self, provider: OidcProvider, *, timeout: float) -> None:
        self.provider = provider
        self.timeout = timeout

    # --- discovery and keys ----------------------------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderDown(self.provider, f"{what}: {type(exc).__name__}") from exc
        if not isinstance(body, dict):
            raise ProviderDown(self.provider, f"{what}: not a JSON object")
        return body

    def _discover(self) -> Metadata:
        issuer = self.provider.issuer.rstrip("/")
        doc = self._get_json(f"{issuer}/.well-known/openid-configuration", "discovery")
        if doc.get("issuer") != self.provider.issuer:
            # OpenID Connect Discovery §4.3: the document must name the issuer we asked; else someone else answers.
            raise ProviderDown(self.provider, "discovery names another issuer")
        try:
            return Metadata(
                issuer=str(doc["issuer"]),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                userinfo_endpoint=doc.get("userinfo_endpoint"),
                end_session_endpoint=doc.get("end_session_endpoint"),
                token_auth_methods=tuple(doc.get("token_endpoint_auth_methods_supported") or ("client_secret_basic",)),
            )
        except KeyError as exc:
            raise ProviderDown(self.provider, f"discovery lacks {exc.args[0]}") from None

    def _keys(self, metadata: Metadata) -> KeySet:
        body = self._get_json(metadata.jwks_uri, "keys")
        try:
            return KeySet.import_key_set(body)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderDown(self.provider, "unreadable keys") from exc

    def _cached(self) -> _Cached:
        key = (self.provider.issuer, self.provider.client_id)
        with _CACHE_LOCK:
            entry = _CACHE.get(key)
        if entry is not None and time.monotonic() - entry.fetched_at < METADATA_TTL:
            return entry
        metadata = self._discover()
        fresh = _Cached(metadata, self._keys(metadata), time.monotonic())
        with _CACHE_LOCK:
            _CACHE[key] = fresh
        return fresh

    def metadata(self) -> Metadata:
        return self._cached().metadata

    def _key_for(self, kid: str | None, alg: str) -> Any:
        entry = self._cached()
        found = _pick(entry.keys, kid, alg)
        if found is not None:
            return found
        with entry.lock:  # one refetch at a time, and not more often than JWKS_REFETCH_SECONDS
            found = _pick(entry.keys, kid, alg)
            if found is None and time.monotonic() - entry.refetched_at >= JWKS_REFETCH_SECONDS:
                entry.refetched_at = time.monotonic()
                entry.keys = self._keys(entry.metadata)
                found = _pick(entry.keys, kid, alg)
        if found is None:
            raise OidcRefused(
                "unknown signing key",
                f"the ID token is signed with a key {self.provider.label} does not publish; sign-in refused",
            )
        return found

    # --- the flow --------------------------------------------------------------------------------------------------

    def _oauth(self, redirect_uri: str) -> OAuth2Client:
        methods = self.metadata().token_auth_methods
        method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        return OAuth2Client(
            client_id=self.provider.client_id,
            client_secret=self.provider.client_secret.get_secret_value(),
            token_endpoint_auth_method=method,
            redirect_uri=redirect_uri,
            scope=self.provider.scopes,
            code_challenge_method="S256",
            timeout=self.timeout,
        )

    def authorization_url(self, redirect_uri: str, *, state: str, nonce: str, code_verifier: str) -> str:
        with self._oauth(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                self.metadata().authorization_endpoint, state=state, code_verifier=code_verifier, nonce=nonce
            )
        return str(url)

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for this code; a refused code (used before, expired) is OidcRefused."""
        with self._oauth(redirect_uri) as client:
            try:
                token = client.fetch_token(
                    self.metadata().token_endpoint,
                    code=code,
                    code_verifier=code_verifier,
                    grant_type="authorization_code",
                )
            except OAuthError as exc:
                raise OidcRefused(
                    "code refused", f"{self.provider.label} refused the sign-in code ({exc.error}); sign in again"
                ) from None
            except CLIENT_ERRORS as exc:
                raise ProviderDown(self.provider, f"token: {type(exc).__name__}") from exc
        if not isinstance(token.get("id_token"), str):
            raise OidcRefused("no id token", f"{self.provider.label} sent no ID token; is the openid scope allowed?")
        return dict(token)

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """The userinfo endpoint's claims (empty when the provider has none or refuses)."""
        endpoint = self.metadata().userinfo_endpoint
        if not endpoint:
            return {}
        try:
            response = httpx.get(endpoint, timeout=self.timeout, headers={"Authorization": f"Bearer {access_token}"})
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}  # only a complement to the ID token
        return body if isinstance(body, dict) else {}

    def validate_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce are right
        (OpenID Connect Core §3.1.3.7); OidcRefused naming what is wrong otherwise."""
        header = _header(id_token)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise OidcRefused("unacceptable algorithm", f"the ID token's signature algorithm {alg!r} is not accepted")
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        key = self._key_for(kid, str(alg))
        label = self.provider.label
        try:
            token = jwt.decode(id_token, key, algorithms=[str(alg)])
        except BadSignatureError:
            raise OidcRefused("bad signature", f"the ID token's signature does not verify: not from {label}") from None
        except (JoseError, ValueError) as exc:
            raise OidcRefused("malformed id token", f"the ID token is unreadable ({type(exc).__name__})") from None
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self.provider.issuer},
            aud={"essential": True, "value": self.provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise OidcRefused("expired id token", "the ID token has expired; sign in again") from None
        except (InvalidClaimError, MissingClaimError) as exc:
            raise _claim_refusal(exc.claim, label) from None
        except ClaimError as exc:
            raise OidcRefused("invalid id token", f"the ID token was refused: {exc.description}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != self.provider.client_id:
            # Core §3.1.3.7 (4, 5): a token for several parties must name us as the one it was issued to.
            raise _claim_refusal("azp", label)
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise _claim_refusal("sub", label)
        return claims

    def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end the provider's session too (RP-Initiated Logout), if it says."""
        try:
            endpoint = self.metadata().end_session_endpoint
        except ProviderDown:
            return None  # our own session is ended anyway
        if not endpoint:
            return None
        query = httpx.QueryParams(
            {
                "id_token_hint": id_token,
                "post_logout_redirect_uri": post_logout_redirect_uri,
                "client_id": self.provider.client_id,
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


_CLAIM_WORDS = {
    "iss": ("wrong issuer", "the ID token was issued by someone other than {label}"),
    "aud": ("wrong audience", "the ID token was issued for another application, not this one"),
    "azp": ("wrong authorized party", "the ID token was issued to another application, not this one"),
    "nonce": ("nonce mismatch", "the ID token does not belong to this sign-in (nonce mismatch); sign in again"),
    "iat": ("issued in the future", "the ID token claims to be issued in the future; check the clocks"),
    "sub": ("no subject", "the ID token names no user (sub)"),
    "exp": ("expired id token", "the ID token has no valid expiry"),
}


def _claim_refusal(claim: str, label: str) -> OidcRefused:
    reason, words = _CLAIM_WORDS.get(claim, (f"invalid {claim}", f"the ID token's {claim} claim is not valid"))
    return OidcRefused(reason, words.format(label=label))


def _pick(keys: KeySet, kid: str | None, alg: str) -> Any:
    """The published key for this kid (the only key when the token names none); None when there is no such key."""
    candidates = [key for key in keys.keys if key.kid == kid] if kid else list(keys.keys)
    if not kid and len(candidates) != 1:
        return None
    usable = [key for key in candidates if key.get("use") in (None, "sig") and key.get("alg") in (None, alg)]
    return usable[0] if usable else None


def clear_cache() -> None:
    """Forget every provider's metadata and keys (the next sign-in reads them again)."""
    with _CACHE_LOCK:
        _CACHE.clear()
