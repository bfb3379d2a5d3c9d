"""The door: every FHIR request's bearer token becomes an `Access`, or a 401.

A token is bound to one organisation by its audience (SMART App Launch: `aud` is the
FHIR base the app talks to): here that is the tenant's base, `{FHIR_BASE_URL}/{slug}`,
so a token for /org-a used at /org-b is refused. FHIR_AUTH_AUDIENCE adds one more
audience for deployments behind a gateway; a token that names only that audience must
also carry a `tenant` claim equal to the slug, so it is still bound to one organisation.

With no FHIR_AUTH_ISSUER the server trusts its own key (`fhirserver token`) and serves
anonymous callers on loopback only. A request that came through a proxy (Forwarded or
X-Forwarded-For) is not loopback, whatever the socket says: a reverse proxy on the same
host would otherwise make every remote caller anonymous.

401s follow RFC 6750 section 3: `WWW-Authenticate: Bearer realm=...`, with
`error="invalid_token"` when a token was sent and refused (a request with no token gets
no error code, as 3.1 says). The token is never echoed.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from fhirserver.auth.access import Access, Principal
from fhirserver.auth.keys import LOCAL_ISSUER, KeySet, local_key, parse_jwks, public_jwks
from fhirserver.auth.scopes import parse_scopes
from fhirserver.auth.tokens import Issuer, TokenRefused, TokenValidator
from fhirserver.outcomes import Category, FhirError
from fhirserver.settings import Settings

ANONYMOUS = Principal(anonymous=True)
MAX_REMEMBERED = 10_000
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PROXY_HEADERS = (b"forwarded", b"x-forwarded-for")


def is_loopback(host: str | None) -> bool:
    return host is not None and (host.startswith("127.") or host in ("::1", "localhost"))


def _principal(claims: dict) -> Principal:
    patient = claims.get("patient")
    patient = patient.removeprefix("Patient/") if isinstance(patient, str) else None
    if patient is not None and not _ID.fullmatch(patient):
        patient = None   # not an id: patient/ grants then give nothing
    return Principal(sub=_text(claims.get("sub")), client_id=_text(claims.get("client_id") or claims.get("azp")),
                     fhir_user=_text(claims.get("fhirUser")), issuer=_text(claims.get("iss")), patient=patient)


def _text(value) -> str | None:
    return value[:256] if isinstance(value, str) else None


def _scopes(claims: dict) -> str:
    scope = claims.get("scope", claims.get("scp", ""))
    if isinstance(scope, list):
        return " ".join(s for s in scope if isinstance(s, str))
    return scope if isinstance(scope, str) else ""


def refused(realm: str, why: str, token_sent: bool) -> FhirError:
    err = FhirError.of(Category.UNAUTHENTICATED, "login", "AUTH-TOKEN", f"Authentication failed: {why}")
    challenge = f'Bearer realm="{realm}"'
    if token_sent:
        challenge += f', error="invalid_token", error_description="{why}"'
    err.headers["WWW-Authenticate"] = challenge
    return err


class Gate:
    """Turns a request's Authorization header into an Access (remembered per token and base)."""

    def __init__(self, settings: Settings) -> None:
        if settings.auth_issuer:
            if not settings.auth_jwks:
                raise ValueError("FHIR_AUTH_ISSUER is set but FHIR_AUTH_JWKS is not")
            issuer = Issuer(settings.auth_issuer, KeySet.load(settings.auth_jwks))
        else:
            issuer = local_issuer(settings.data_dir)
        self.validator = TokenValidator([issuer])
        self.anonymous_loopback = not settings.auth_issuer
        self.gateway_audience = settings.auth_audience
        self._remembered: dict[tuple[str, str], tuple[Access, float]] = {}

    async def access(self, scope: dict, base_url: str, slug: str) -> Access:
        token = _bearer(scope, base_url)
        if token is None:
            if self.anonymous_loopback and _loopback_request(scope):
                return Access.unrestricted(ANONYMOUS)
            raise refused(base_url, "this server needs a bearer token", token_sent=False)
        hit = self._remembered.get((token, base_url))
        if hit is not None and hit[1] > time.time():
            return hit[0]
        audiences = (base_url,) + ((self.gateway_audience,) if self.gateway_audience else ())
        try:
            claims = await self.validator.claims(token, audiences)
        except TokenRefused as why:
            raise refused(base_url, str(why), token_sent=True) from None
        if not _names_base(claims.get("aud"), base_url) and claims.get("tenant") != slug:
            raise refused(base_url, "a gateway token must name this organisation (tenant)", token_sent=True)
        access = Access(_principal(claims), parse_scopes(_scopes(claims)))
        if len(self._remembered) >= MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered[(token, base_url)] = (access, float(claims["exp"]))
        return access


def _names_base(aud, base_url: str) -> bool:
    return aud == base_url or (isinstance(aud, list) and base_url in aud)


def _bearer(scope: dict, realm: str) -> str | None:
    value = next((v for k, v in scope["headers"] if k == b"authorization"), None)
    if value is None:
        return None
    kind, _, token = value.decode("latin-1").strip().partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise refused(realm, "the Authorization header must be 'Bearer <token>'", token_sent=True)
    return token.strip()


def _loopback_request(scope: dict) -> bool:
    client = scope.get("client")
    if not client or not is_loopback(client[0]):
        return False
    return not any(k in _PROXY_HEADERS for k, _ in scope["headers"])


def local_issuer(data_dir: Path) -> Issuer:
    key = local_key(data_dir)
    return Issuer(LOCAL_ISSUER, KeySet("local", parse_jwks(public_jwks(key))))
