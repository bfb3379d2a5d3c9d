"""Tokens signed by the embedded default's own key: `fhirserver token` for newcomers,
local scripts and tests. A deployment with FHIR_AUTH_ISSUER does not trust them."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import jwt

from fhirserver.auth.keys import LOCAL_ISSUER, LOCAL_KID, local_key

_DURATION = re.compile(r"(\d+)([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str) -> int:
    """'90', '15m', '1h', '2d' -> seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a duration such as 3600, 15m, 1h or 2d")
    return int(match[1]) * _UNIT_S[match[2]]


def mint(data_dir: Path, audience: str, scope: str, *, patient: str | None = None,
         fhir_user: str | None = None, ttl_s: int = 3600, subject: str = "local-user",
         client_id: str = "fhirserver-cli") -> str:
    """An ES256 access token for `audience` (a tenant's FHIR base) with SMART claims."""
    now = int(time.time())
    claims = {"iss": LOCAL_ISSUER, "aud": audience, "sub": subject, "client_id": client_id, "scope": scope,
              "iat": now, "exp": now + ttl_s, "jti": str(uuid.uuid4())}
    if patient:
        claims["patient"] = patient
    if fhir_user:
        claims["fhirUser"] = fhir_user
    return jwt.encode(claims, local_key(data_dir), algorithm="ES256", headers={"kid": LOCAL_KID})
