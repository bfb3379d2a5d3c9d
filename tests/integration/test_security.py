"""The door and its attackers: real tokens signed by keys this test makes, a real server
app trusting only their JWKS, callers from a non-loopback address, and a patient token
trying to reach another patient through every search feature.

Each refusal asserts the status and, for data, that the other patient's ids appear
nowhere in the whole answer (links included)."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhirserver.app import create_app
from fhirserver.settings import Settings
from tests import samples

ISSUER = "https://issuer.test"
ROOT = "http://fhir.test"
BASE = f"{ROOT}/acme"
REMOTE = ("203.0.113.7", 40000)   # TEST-NET-3: not loopback
LAB = "http://terminology.hl7.org/CodeSystem/observation-category"


class Keys:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(65537, 2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.other = rsa.generate_private_key(65537, 2048)   # never published

    def jwks(self) -> dict:
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        return {"keys": [{**rsa_jwk, "kid": "rsa1", "use": "sig"}, {**ec_jwk, "kid": "ec1", "use": "sig"}]}

    def token(self, scope: str = "user/*.cruds", *, aud: str = BASE, key=None, kid: str = "rsa1",
              alg: str = "RS256", headers: dict | None = None, **claims) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": aud, "sub": "user-1", "client_id": "app-1", "scope": scope,
                "iat": now, "exp": now + 600, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.rsa, algorithm=alg, headers={"kid": kid, **(headers or {})})


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest_asyncio.fixture(scope="module")
async def secured(dsn, keys, tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    settings = Settings(public_base_url=ROOT, auth_issuer=ISSUER, auth_jwks=str(path),
                        cors_origins=("https://app.example",))
    application = create_app(settings, dsn=dsn)
    async with application.lifespan():
        yield application


def client(app, token: str | None = None, address=REMOTE) -> httpx.AsyncClient:
    headers = {"Content-Type": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=address), base_url=BASE,
                             headers=headers)


@pytest_asyncio.fixture(scope="module")
async def world(secured, keys):
    """Two patients of acme, each with a lab and a vital-sign observation and an encounter."""
    async with client(secured, keys.token("system/*.cruds")) as admin:
        made = {}
        for name in ("p1", "p2"):
            pat = (await admin.post("/Patient", json=samples.patient(family=f"Fam{name}"))).json()
            made[name] = pat["id"]
            for kind in ("laboratory", "vital-signs"):
                obs = samples.observation(pat["id"])
                obs["category"] = [{"coding": [{"system": LAB, "code": kind}]}]
                obs["identifier"] = [{"system": "urn:obs", "value": f"{name}-{kind}"}]
                made[f"{name}-{kind}"] = (await admin.post("/Observation", json=obs)).json()["id"]
            made[f"{name}-enc"] = (await admin.post("/Encounter", json=samples.encounter(pat["id"]))).json()["id"]
        # p1's observation filed under p2's encounter (a mix-up that happens): a way out of
        # p1's compartment for chains, _has and includes.
        cross = {**samples.observation(made["p1"]), "encounter": {"reference": f"Encounter/{made['p2-enc']}"}}
        made["cross"] = (await admin.post("/Observation", json=cross)).json()["id"]
        yield made


def _absent(response: httpx.Response, world: dict, who: str = "p2") -> None:
    """Nothing of `who` in the whole answer (links included), beyond what the caller itself
    sent (a self link or a 404 may echo the id it asked for)."""
    text, asked = response.text, str(response.request.url) + response.request.content.decode()
    for key, value in world.items():
        if key == f"{who}-enc" and world["cross"] in text:
            continue   # p1's own observation names that encounter: p1's data, checked by the entries below
        if (key == who or key.startswith(f"{who}-")) and value not in asked:
            assert value not in text, f"{key} leaked in {response.request.url}"
    assert f"Fam{who}" not in text or f"Fam{who}" in asked
    if response.headers.get("content-type", "").startswith("application/fhir+json") and text.startswith("{"):
        mine = {v for k, v in world.items() if k == who or k.startswith(f"{who}-")}
        body = response.json()
        entries = body.get("entry", []) if body.get("resourceType") == "Bundle" else []
        nested = [x for e in entries for x in (e.get("resource") or {}).get("entry", [])]
        assert not {(e.get("resource") or {}).get("id") for e in entries + nested} & mine


def _ids(bundle: dict) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


# ---- the token itself ------------------------------------------------------------------

async def test_no_token_from_a_remote_caller_is_401_with_a_bearer_challenge(secured, world):
    async with client(secured) as c:
        r = await c.get(f"/Patient/{world['p1']}")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == f'Bearer realm="{BASE}"'
    assert r.json()["resourceType"] == "OperationOutcome"
    _absent(r, world, "p1")


@pytest.mark.parametrize("case", ["forged", "alg-none", "hs256-with-public-key", "expired", "not-yet-valid",
                                  "wrong-iss", "wrong-aud", "other-tenant", "unknown-kid", "jku-header",
                                  "ec-key-as-rs256", "no-exp", "garbage"])
async def test_bad_tokens_are_refused_without_echoing_them(secured, keys, world, case):
    now = int(time.time())
    public_pem = keys.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    token = {
        "forged": lambda: keys.token(key=keys.other),
        "alg-none": lambda: jwt.encode({"iss": ISSUER, "aud": BASE, "exp": now + 600, "scope": "user/*.cruds"},
                                       None, algorithm="none", headers={"kid": "rsa1"}),
        "hs256-with-public-key": lambda: _hs256(public_pem),
        "expired": lambda: keys.token(exp=now - 120),
        "not-yet-valid": lambda: keys.token(nbf=now + 300),
        "wrong-iss": lambda: keys.token(iss="https://evil.test"),
        "wrong-aud": lambda: keys.token(aud="https://elsewhere.test/acme"),
        "other-tenant": lambda: keys.token(aud=f"{ROOT}/globex"),
        "unknown-kid": lambda: keys.token(kid="nope"),
        "jku-header": lambda: keys.token(headers={"jku": "https://evil.test/jwks"}),
        "ec-key-as-rs256": lambda: keys.token(kid="ec1"),   # RSA-signed, claims the EC key
        "no-exp": lambda: keys.token(exp=None),
        "garbage": lambda: "not.a.token",
    }[case]()
    async with client(secured, token) as c:
        r = await c.get(f"/Patient/{world['p1']}")
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert token not in r.text and token not in r.headers["WWW-Authenticate"]
    _absent(r, world, "p1")


def _hs256(secret: bytes) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT","kid":"rsa1"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({"iss": ISSUER, "aud": BASE, "exp": int(time.time()) + 600,
                                                "scope": "user/*.cruds"}).encode()).rstrip(b"=")
    import hashlib
    import hmac
    sig = base64.urlsafe_b64encode(hmac.new(secret, header + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
    return (header + b"." + body + b"." + sig).decode()


async def test_clock_skew_of_under_a_minute_is_tolerated_and_ec_keys_work(secured, keys, world):
    token = keys.token(exp=int(time.time()) - 30, key=keys.ec, kid="ec1", alg="ES256")
    async with client(secured, token) as c:
        assert (await c.get(f"/Patient/{world['p1']}")).status_code == 200


async def test_the_same_token_is_refused_at_another_tenant(secured, keys, world):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=secured, client=REMOTE),
                                 base_url=f"{ROOT}/globex",
                                 headers={"Authorization": f"Bearer {keys.token()}"}) as c:
        r = await c.get("/Patient")
    assert r.status_code == 401


# ---- scopes ------------------------------------------------------------------------------

async def test_a_token_without_scopes_or_with_misordered_letters_gets_403(secured, keys, world):
    for scope in ("openid fhirUser", "patient/Observation.sr", "user/Observation.rs?"):
        async with client(secured, keys.token(scope, patient=world["p1"])) as c:
            r = await c.get("/Observation")
            assert r.status_code == 403, scope
            assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "AUTH-SCOPE"


async def test_read_scopes_cannot_write_and_v1_write_cannot_read(secured, keys, world):
    async with client(secured, keys.token("user/Observation.rs user/Patient.read")) as c:
        assert (await c.post("/Observation", json=samples.observation(world["p1"]))).status_code == 403
        assert (await c.delete(f"/Observation/{world['p1-laboratory']}")).status_code == 403
        assert (await c.get(f"/Observation/{world['p1-laboratory']}")).status_code == 200
        assert (await c.get("/Encounter")).status_code == 403
    async with client(secured, keys.token("user/Observation.write")) as c:
        assert (await c.get(f"/Observation/{world['p1-laboratory']}")).status_code == 403


async def test_import_needs_an_admin_scope(secured, keys):
    line = json.dumps({**samples.patient(), "id": "imported-by-user"}).encode()
    async with client(secured, keys.token("user/*.cruds")) as c:
        r = await c.post("/$import", content=line, headers={"Content-Type": "application/fhir+ndjson"})
    assert r.status_code == 403
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "AUTH-ADMIN"


# ---- a patient token against the other patient -----------------------------------------

PATIENT_SEARCHES = [
    ("/Observation", {}),
    ("/Observation", {"patient": "{p2}"}),
    ("/Observation", {"subject": "Patient/{p2}"}),
    ("/Observation", {"subject:Patient.family": "Famp2"}),
    ("/Observation", {"_id": "{p2-laboratory}"}),
    ("/Observation", {"identifier": "urn:obs|p2-laboratory"}),
    ("/Observation", {"_include": "Observation:subject"}),
    ("/Observation", {"_include": "Observation:encounter"}),
    ("/Observation", {"_include": "Observation:encounter", "_include:iterate": "Encounter:patient"}),
    ("/Observation", {"_include": "Observation:subject", "_include:iterate": "Patient:link"}),
    ("/Patient", {}),
    ("/Patient", {"_id": "{p2}"}),
    ("/Patient", {"_has:Observation:patient:category": "laboratory"}),
    ("/Patient", {"_revinclude": "Observation:patient"}),
    ("/Patient", {"_revinclude": "Encounter:patient", "_revinclude:iterate": "Observation:encounter"}),
    ("/Encounter", {"patient.family": "Famp2"}),
    ("/Encounter", {"_revinclude": "Observation:encounter"}),
    ("/Patient/{p2}/Observation", {}),
    ("/Patient/{p2}/Encounter", {}),
    ("/Observation", {"_count": "1"}),
    ("/Observation", {"_summary": "count"}),
    ("/Observation", {"_total": "accurate"}),
]


@pytest.mark.parametrize("path,params", PATIENT_SEARCHES, ids=[f"{p}?{q}" for p, q in PATIENT_SEARCHES])
async def test_a_patient_token_never_sees_the_other_patient(secured, keys, world, path, params):
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        url = path.format(**world)
        query = {k: v.format(**world) for k, v in params.items()}
        r = await c.get(url, params=query)
        assert r.status_code in (200, 404), r.text
        _absent(r, world)
        pages = 0
        while r.status_code == 200 and (nxt := next((lk["url"] for lk in r.json().get("link", [])
                                                     if lk["relation"] == "next"), None)):
            parts = urlsplit(nxt)
            r = await c.get(parts.path.removeprefix("/acme") + "?" + parts.query)
            _absent(r, world)
            pages += 1
            assert pages < 20
    if path == "/Observation" and not params:
        assert _ids(r.json()) == {world["p1-laboratory"], world["p1-vital-signs"], world["cross"]}


@pytest.mark.parametrize("path,params", [
    ("/Observation", {"encounter.patient.family": "Famp2"}),
    ("/Observation", {"encounter:Encounter.subject:Patient.family": "Famp2"}),
    ("/Patient", {"_has:Observation:patient:encounter.patient.family": "Famp2"}),
    ("/Observation", {"encounter._has:Observation:encounter:identifier": "urn:obs|p2-laboratory"}),
])
async def test_chains_and_has_cannot_probe_the_other_patient(secured, keys, world, path, params):
    """p1's own observation points at p2's encounter; following it must not answer
    questions about p2 (the chain's and _has's tables are confined too)."""
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        r = await c.get(path, params=params)
    assert r.status_code == 200, r.text
    assert _ids(r.json()) == set()


async def test_a_patient_token_sees_its_own_record_and_what_references_it(secured, keys, world):
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        assert (await c.get(f"/Patient/{world['p1']}")).status_code == 200
        own = await c.get("/Observation", params={"patient": world["p1"]})
        assert _ids(own.json()) == {world["p1-laboratory"], world["p1-vital-signs"], world["cross"]}
        rev = await c.get("/Patient", params={"_revinclude": "Observation:patient"})
        assert _ids(rev.json()) == {world["p1"], world["p1-laboratory"], world["p1-vital-signs"], world["cross"]}
        count = await c.get("/Observation", params={"_summary": "count"})
        assert count.json()["total"] == 3


@pytest.mark.parametrize("path", ["/Patient/{p2}", "/Observation/{p2-laboratory}",
                                  "/Observation/{p2-laboratory}/_history", "/Observation/{p2-laboratory}/_history/1",
                                  "/Encounter/{p2-enc}"])
async def test_reads_of_the_other_patients_resources_are_404(secured, keys, world, path):
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        r = await c.get(path.format(**world))
    assert r.status_code == 404
    _absent(r, world)


async def test_type_history_shows_only_what_the_token_may_search(secured, keys, world):
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        r = await c.get("/Observation/_history", params={"_count": "1000"})
    assert r.status_code == 200
    assert _ids(r.json()) == {world["p1-laboratory"], world["p1-vital-signs"], world["cross"]}
    _absent(r, world)


async def test_system_history_shows_only_what_the_token_may_search(secured, keys, world):
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        r = await c.get("/_history", params={"_count": "1000"})
    assert r.status_code == 200
    assert {world["p1"], world["p1-laboratory"], world["p1-vital-signs"], world["cross"]} <= _ids(r.json())
    _absent(r, world)
    async with client(secured, keys.token("patient/Observation.rs", patient=world["p1"])) as c:
        r = await c.get("/_history", params={"_count": "1000"})
    assert r.status_code == 200
    assert {e["resource"]["resourceType"] for e in r.json()["entry"] if "resource" in e} == {"Observation"}
    _absent(r, world)
    async with client(secured, keys.token("patient/Observation.c", patient=world["p1"])) as c:
        assert (await c.get("/_history")).status_code == 403


async def test_system_search_shows_only_what_the_token_may_search(secured, keys, world):
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        r = await c.get("", params={"_type": "Observation,Encounter", "_count": "1000"})
        assert r.status_code == 200, r.text
        assert {world["p1-laboratory"], world["p1-vital-signs"], world["p1-enc"]} <= _ids(r.json())
        _absent(r, world)
        everything = await c.get("", params={"_count": "1000", "_include": "Observation:encounter"})
        assert everything.status_code == 200
        _absent(everything, world)
    async with client(secured, keys.token("patient/Observation.rs", patient=world["p1"])) as c:
        assert (await c.get("", params={"_type": "Encounter"})).status_code == 403


async def test_everything_is_the_token_patients_own_record(secured, keys, world):
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        assert (await c.get(f"/Patient/{world['p2']}/$everything")).status_code == 404
        r = await c.get(f"/Patient/{world['p1']}/$everything", params={"_count": "1000"})
    assert r.status_code == 200, r.text
    assert {world["p1"], world["p1-laboratory"], world["p1-vital-signs"], world["p1-enc"]} <= _ids(r.json())
    _absent(r, world)


async def test_explain_shows_the_confinement(secured, keys, world):
    async with client(secured, keys.token("patient/*.rs", patient=world["p1"])) as c:
        r = await c.get("/Observation", params={"_explain": "true"})
    assert r.status_code == 200
    assert f"Patient/{world['p1']}" in r.text
    steps = [p["valueString"] for p in r.json()["parameter"] if p["name"] == "rewrite"]
    assert len(steps) == 1 and steps[0].startswith("scope confinement") and world["p1"] in steps[0]
    async with client(secured, keys.token("user/*.rs")) as c:   # nothing to confine: no rewrite shown
        r = await c.get("/Observation", params={"_explain": "true"})
    assert [p for p in r.json()["parameter"] if p["name"] == "rewrite"] == []
    _absent(r, world)


async def test_a_patient_token_cannot_write_into_another_record(secured, keys, world, owner):
    before = await owner.fetchval("SELECT count(*) FROM observations")
    token = keys.token("patient/*.cruds", patient=world["p1"])
    async with client(secured, token) as c:
        r = await c.post("/Observation", json=samples.observation(world["p2"]))
        assert r.status_code == 403
        # an update of the other patient's observation, and one that moves mine to them
        theirs = await c.put(f"/Observation/{world['p2-laboratory']}",
                             json={**samples.observation(world["p1"]), "id": world["p2-laboratory"]})
        assert theirs.status_code == 404
        moved = await c.put(f"/Observation/{world['p1-vital-signs']}",
                            json={**samples.observation(world["p2"]), "id": world["p1-vital-signs"]})
        assert moved.status_code == 403
        assert (await c.delete(f"/Observation/{world['p2-laboratory']}")).status_code == 404
        cond = await c.put("/Observation", params={"identifier": "urn:obs|p2-laboratory"},
                           json=samples.observation(world["p2"]))
        assert cond.status_code == 403
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": samples.observation(world["p1"]), "request": {"method": "POST", "url": "Observation"}},
            {"resource": samples.observation(world["p2"]), "request": {"method": "POST", "url": "Observation"}}]}
        tx = await c.post("", json=bundle)
        assert tx.status_code == 403
        batch = await c.post("", json={"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": f"Patient/{world['p2']}"}},
            {"request": {"method": "GET", "url": f"Observation?patient={world['p2']}"}}]})
        assert batch.status_code == 200
        _absent(batch, world)
    assert await owner.fetchval("SELECT count(*) FROM observations") == before
    async with client(secured, keys.token("system/*.rs")) as admin:
        still = (await admin.get(f"/Observation/{world['p2-laboratory']}")).json()
    assert still["subject"]["reference"] == f"Patient/{world['p2']}"


async def test_a_constrained_scope_restricts_search_and_read(secured, keys, world):
    token = keys.token("patient/Observation.rs?category=laboratory patient/Patient.r", patient=world["p1"])
    async with client(secured, token) as c:
        found = await c.get("/Observation")
        assert _ids(found.json()) == {world["p1-laboratory"]}
        assert (await c.get(f"/Observation/{world['p1-vital-signs']}")).status_code == 404
        assert (await c.get(f"/Observation/{world['p1-laboratory']}")).status_code == 200
        assert (await c.get("/Encounter")).status_code == 403


async def test_a_user_token_sees_the_whole_organisation(secured, keys, world):
    token = keys.token("user/*.rs", fhirUser="Practitioner/doc-1")
    async with client(secured, token) as c:
        r = await c.get("/Observation", params={"_count": "100", "identifier": "urn:obs|p2-laboratory"})
    assert _ids(r.json()) == {world["p2-laboratory"]}


async def test_a_gateway_audience_needs_the_tenant_claim(dsn, keys, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    settings = Settings(public_base_url=ROOT, auth_issuer=ISSUER, auth_jwks=str(path),
                        auth_audience="https://gateway.test")
    app = create_app(settings, dsn=dsn)
    async with app.lifespan():
        async with client(app, keys.token(aud="https://gateway.test")) as c:
            assert (await c.get("/Patient")).status_code == 401
        async with client(app, keys.token(aud="https://gateway.test", tenant="acme")) as c:
            assert (await c.get("/Patient")).status_code == 200
        async with client(app, keys.token(aud="https://gateway.test", tenant="globex")) as c:
            assert (await c.get("/Patient")).status_code == 401


# ---- discovery and browsers ------------------------------------------------------------

async def test_discovery_is_public_and_names_the_issuer(secured):
    async with client(secured) as c:
        smart = await c.get("/.well-known/smart-configuration")
        meta = await c.get("/metadata")
    assert smart.status_code == 200 and smart.json()["issuer"] == ISSUER
    assert "permission-v2" in smart.json()["capabilities"]
    assert smart.json()["code_challenge_methods_supported"] == ["S256"]
    security = meta.json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


async def test_cors_preflight_for_a_configured_origin_only(secured):
    async with client(secured) as c:
        ok = await c.options("/Patient", headers={"Origin": "https://app.example",
                                                  "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "Authorization"})
        bad = await c.options("/Patient", headers={"Origin": "https://evil.example",
                                                   "Access-Control-Request-Method": "GET"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in bad.headers


async def test_anonymous_loopback_callers_are_served_but_not_through_a_proxy(secured, app, world):
    # The secured app names an issuer: no anonymous access at all, even on loopback.
    async with client(secured, address=("127.0.0.1", 5000)) as c:
        assert (await c.get("/Patient")).status_code == 401
    # The suite's default app has no issuer: loopback is served, a proxied request is not.
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url=f"{ROOT}/default") as c:
        assert (await c.get("/Patient")).status_code == 200
        assert (await c.get("/Patient", headers={"X-Forwarded-For": "198.51.100.1"})).status_code == 401
    transport = httpx.ASGITransport(app=app, client=REMOTE)
    async with httpx.AsyncClient(transport=transport, base_url=f"{ROOT}/default") as c:
        assert (await c.get("/Patient")).status_code == 401


async def test_each_version_is_seen_by_the_patient_it_is_about(secured, keys):
    """An Observation recorded for one patient, then moved to another, then deleted: each
    patient's token sees the versions about that patient and never the other's, the
    resource as it is now included, and after the delete still its own past."""
    async with client(secured, keys.token("system/*.cruds")) as admin:
        mine = (await admin.post("/Patient", json=samples.patient(family="Famp3"))).json()["id"]
        other = (await admin.post("/Patient", json=samples.patient(family="Famp4"))).json()["id"]
        first = {**samples.observation(other), "note": [{"text": "about Famp4"}]}
        oid = (await admin.post("/Observation", json=first)).json()["id"]
        moved = await admin.put(f"/Observation/{oid}", json={**samples.observation(mine), "id": oid})
        assert moved.status_code == 200, moved.text
    async with client(secured, keys.token("patient/*.rs", patient=mine)) as c:
        assert (await c.get(f"/Observation/{oid}")).status_code == 200
        assert (await c.get(f"/Observation/{oid}/_history/2")).status_code == 200
        old = await c.get(f"/Observation/{oid}/_history/1")
        assert old.status_code == 404 and "Famp4" not in old.text and other not in old.text
        history = await c.get(f"/Observation/{oid}/_history")
        assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["2"]
        typed = await c.get("/Observation/_history", params={"_count": "1000"})
        assert [e["resource"]["meta"]["versionId"] for e in typed.json()["entry"]
                if e["resource"]["id"] == oid] == ["2"]
        for r in (history, typed):
            assert "Famp4" not in r.text and other not in r.text
    async with client(secured, keys.token("patient/*.rs", patient=other)) as c:   # and the other way round
        assert (await c.get(f"/Observation/{oid}")).status_code == 404   # it is mine no more
        assert (await c.get(f"/Observation/{oid}/_history/1")).status_code == 200   # but this was about me
        assert (await c.get(f"/Observation/{oid}/_history/2")).status_code == 404
        history = await c.get(f"/Observation/{oid}/_history")
        assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["1"]
        assert "Famp3" not in history.text and mine not in history.text
    async with client(secured, keys.token("system/*.cruds")) as admin:
        assert (await admin.delete(f"/Observation/{oid}")).status_code in (200, 204)
    async with client(secured, keys.token("patient/*.rs", patient=mine)) as c:   # deleted: still my past
        assert (await c.get(f"/Observation/{oid}/_history/2")).status_code == 200
        history = await c.get(f"/Observation/{oid}/_history")
        assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"] if "resource" in e] == ["2"]
        assert "Famp4" not in history.text and other not in history.text
    async with client(secured, keys.token("patient/*.rs", patient=world_stranger())) as c:
        assert (await c.get(f"/Observation/{oid}/_history")).status_code == 404   # not anyone's past: unconfirmed


def world_stranger() -> str:
    """A patient id no resource mentions."""
    return "stranger-" + "0" * 8
