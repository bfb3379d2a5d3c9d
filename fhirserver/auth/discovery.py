"""What a SMART app reads before it asks for a token: `.well-known/smart-configuration`
(SMART App Launch 2.0.0, conformance.html) and the CapabilityStatement's `rest.security`.

The authorization server itself (login, consent, the token endpoint) is external; its
endpoints are configured (FHIR_AUTH_AUTHORIZE_URL, FHIR_AUTH_TOKEN_URL) and advertised
here. With the embedded default's own issuer there are none: tokens come from
`fhirserver token`, and the documents say so.
"""

from __future__ import annotations

from fhirserver.auth.keys import LOCAL_ISSUER
from fhirserver.settings import Settings

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
# What the resource server enforces; launch and client kinds are the authorization server's to add.
CAPABILITIES = ("launch-standalone", "context-standalone-patient", "permission-patient", "permission-user",
                "permission-v1", "permission-v2", "client-public", "client-confidential-asymmetric")
SCOPES = ("openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs", "patient/*.cruds",
          "user/*.rs", "user/*.cruds", "system/*.rs", "system/*.cruds", "patient/*.read", "user/*.read",
          "patient/*.write", "user/*.write", "system/*.read", "system/*.write")


def smart_configuration(settings: Settings) -> dict:
    doc: dict = {
        "issuer": settings.auth_issuer or LOCAL_ISSUER,
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "response_types_supported": ["code"],
        "scopes_supported": list(SCOPES),
        "capabilities": list(CAPABILITIES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
    }
    if settings.auth_jwks and settings.auth_jwks.startswith("https://"):
        doc["jwks_uri"] = settings.auth_jwks
    if settings.auth_authorize_url:
        doc["authorization_endpoint"] = settings.auth_authorize_url
    if settings.auth_token_url:
        doc["token_endpoint"] = settings.auth_token_url
    return doc


def security(settings: Settings) -> dict:
    """CapabilityStatement.rest.security: SMART-on-FHIR with the oauth-uris extension."""
    uris = [{"url": name, "valueUri": url} for name, url in (("authorize", settings.auth_authorize_url),
                                                              ("token", settings.auth_token_url)) if url]
    if settings.auth_issuer:
        description = (f"SMART on FHIR bearer tokens from {settings.auth_issuer}; `aud` must be this "
                       "organisation's base URL. Scopes v1 and v2, patient/ scopes confined to the patient's "
                       "compartment.")
    else:
        description = ("No external authorization server is configured: anonymous requests are served on "
                       "loopback only; other callers need a token from `fhirserver token`.")
    out: dict = {"cors": True, "description": description,
                 "service": [{"coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"}]}]}
    if uris:
        out["extension"] = [{"url": OAUTH_URIS, "extension": uris}]
    return out
