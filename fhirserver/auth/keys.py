"""Where the authorization server's public keys come from: a JWKS file, a JWKS URL, or
the embedded default's own key.

A URL is fetched once, cached, and fetched again when a token names a `kid` the cache
does not hold, at most once per REFETCH_S, so a rotated key is picked up within a minute
while a stream of tokens with made-up `kid`s cannot make the server hammer the issuer.
Only https URLs are fetched (plain http only to a loopback host, for tests and local
authorization servers): keys fetched in clear text could be swapped on the way.

The embedded default keeps an EC P-256 key in `data_dir/auth/` and trusts it
(issuer LOCAL_ISSUER), so `fhirserver token` works on a fresh machine with nothing
configured. A deployment that names FHIR_AUTH_ISSUER trusts only that issuer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger(__name__)
REFETCH_S = 60.0
FETCH_TIMEOUT_S = 5.0
LOCAL_ISSUER = "urn:fhirserver:local-issuer"
LOCAL_KID = "fhirserver-local-1"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class KeySet:
    """The issuer's keys by `kid`; `key(kid)` answers None for a kid it cannot find."""

    def __init__(self, source: str, loaded: dict[str, jwt.PyJWK] | None = None) -> None:
        self.source = source
        self._keys: dict[str, jwt.PyJWK] = loaded or {}
        self._fetched_at = -REFETCH_S
        self._lock = asyncio.Lock()

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("https://", "http://"))

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return None
        found = self._keys.get(kid)
        if found is not None or not self.is_url:
            return found
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= REFETCH_S:
                await self.refresh()
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetch the URL again (keeps the old keys if the fetch fails)."""
        self._fetched_at = time.monotonic()
        try:
            text = await asyncio.to_thread(_fetch, self.source)
            self._keys = parse_jwks(text)
        except (OSError, ValueError) as exc:
            log.warning("could not fetch the JWKS at %s: %s", self.source, exc)

    @classmethod
    def load(cls, source: str) -> "KeySet":
        """A key set from a path (read now) or a URL (fetched on first use)."""
        if source.startswith(("https://", "http://")):
            _check_url(source)
            return cls(source)
        return cls(source, parse_jwks(Path(source).read_text()))


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
        raise ValueError(f"FHIR_AUTH_JWKS must be an https URL (or a file): {url}")


def _fetch(url: str) -> str:
    _check_url(url)
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:   # noqa: S310 - scheme checked
        return response.read(1 << 20).decode()


def parse_jwks(text: str) -> dict[str, jwt.PyJWK]:
    """kid -> key of the asymmetric signing keys in a JWKS; symmetric keys are never trusted."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in json.loads(text).get("keys", []):
        if entry.get("kty") not in ("RSA", "EC") or not entry.get("kid") or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
            log.warning("JWKS key %s skipped: %s", entry.get("kid"), exc)
    return keys


def local_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The embedded default's signing key, made on first use (readable by the owner only)."""
    path = data_dir / "auth" / "signing-key.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    try:
        os.link(tmp, path)   # atomic, and fails if another process made the key first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def public_jwks(key: ec.EllipticCurvePrivateKey, kid: str = LOCAL_KID) -> str:
    """The JWKS (JSON text) that trusts `key`'s public half."""
    entry = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return json.dumps({"keys": [{**entry, "kid": kid, "use": "sig", "alg": "ES256"}]})
