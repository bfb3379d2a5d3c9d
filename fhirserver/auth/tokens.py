"""Bearer tokens (JWT) checked as an OAuth 2.0 resource server: signature, issuer,
audience, lifetime. PyJWT does the JOSE work: it and joserfc both verify through
`cryptography` at about the same cost, and PyJWT is the more widely used.

Pinned, not negotiated: the algorithm must be one of ALGORITHMS *and* match the key's
type (an RSA key verifies only RS256/RS384, a P-256 key only ES256, a P-384 key only
ES384), so `alg: none` and HS256-with-the-public-key-as-secret never reach a verifier.
A header that points elsewhere for its key (`jku`, `x5u`, an embedded `jwk`) is refused
outright, and so is a `kid` the issuer's key set does not hold.

Verified tokens are remembered (bounded) until they expire: a SMART app sends the same
token on every request, and an ECDSA verification costs more than a read by id's SQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhirserver.auth.keys import KeySet

ALGORITHMS = ("RS256", "RS384", "ES256", "ES384")
LEEWAY_S = 60
MAX_REMEMBERED = 10_000
_FOREIGN_KEY_HEADERS = ("jku", "x5u", "jwk", "x5c")


class TokenRefused(Exception):
    """Why a token is not accepted: said to the client without echoing the token."""


@dataclass(frozen=True, slots=True)
class Issuer:
    """One trusted authorization server."""

    name: str          # the exact `iss`
    keys: KeySet


def _algorithms_for(key) -> tuple[str, ...]:
    if isinstance(key, rsa.RSAPublicKey):
        return ("RS256", "RS384")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": ("ES256",), "secp384r1": ("ES384",)}.get(key.curve.name, ())
    return ()


class TokenValidator:
    """Checks bearer tokens against the trusted issuers; answers their claims."""

    def __init__(self, issuers: list[Issuer]) -> None:
        self._issuers = {i.name: i for i in issuers}
        self._remembered: dict[tuple[str, str], dict] = {}

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._issuers)

    async def claims(self, token: str, audiences: tuple[str, ...]) -> dict:
        """The token's claims if it is valid for one of `audiences` now; else TokenRefused."""
        remembered = self._remembered.get((token, audiences[0]))
        if remembered is not None:
            _check_times(remembered)
            return remembered
        claims = await self._verify(token, audiences)
        if len(self._remembered) >= MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered[(token, audiences[0])] = claims
        return claims

    async def _verify(self, token: str, audiences: tuple[str, ...]) -> dict:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRefused("the token is not a well-formed JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenRefused(f"tokens signed with {str(header.get('alg'))[:20]!r} are not accepted")
        if any(h in header for h in _FOREIGN_KEY_HEADERS):
            raise TokenRefused("a token may not name where its key comes from (jku, x5u, jwk, x5c)")
        issuer = self._issuers.get(unverified.get("iss")) if isinstance(unverified.get("iss"), str) else None
        if issuer is None:
            raise TokenRefused("the token's issuer is not trusted here")
        key = await issuer.keys.key(header.get("kid"))
        if key is None:
            raise TokenRefused("the token's key (kid) is not one of the issuer's keys")
        public = key.key
        if header["alg"] not in _algorithms_for(public):
            raise TokenRefused("the token's algorithm does not match its key")
        try:
            return jwt.decode(token, public, algorithms=[header["alg"]], audience=list(audiences),
                              issuer=issuer.name, leeway=LEEWAY_S,
                              options={"require": ["exp", "iss", "aud"], "verify_iat": False})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("the token was not issued for this FHIR base (aud)") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"the token is not valid: {type(exc).__name__}") from None


def _check_times(claims: dict) -> None:
    now = time.time()
    if claims["exp"] < now - LEEWAY_S:
        raise TokenRefused("the token has expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and nbf > now + LEEWAY_S:
        raise TokenRefused("the token is not valid yet")
