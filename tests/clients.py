"""HTTP clients of the app under test, in process."""

from __future__ import annotations

import httpx


def tenant_client(app, tenant: str) -> httpx.AsyncClient:
    """A client whose base is `tenant`'s FHIR base, sending FHIR JSON."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://fhir.test/{tenant}",
                             headers={"Content-Type": "application/fhir+json"})
