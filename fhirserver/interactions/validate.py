"""$validate (operation-resource-validate.html): would this content be accepted?

The answer comes from the checks a write makes, and nothing is written: the schema and the
server's own rules (draft_from), then per mode what the write would check next: `create`,
that every local reference resolves; `update` (instance level), that the body's id is the
URL's, and the references; `delete` (instance level), that the resource exists and nothing
still refers to it. R4 answers 200 with an OperationOutcome whether or not the content is
valid ("All OK" as information when it is); a 4xx means the validation itself could not run
(a body that is not JSON, an unknown mode, a profile this server cannot check).
Not checked, so the answer may be OK where the write then fails: the Patient MRN's
uniqueness and version conflicts (they depend on the moment of the write, as R4 allows).
"""

from __future__ import annotations

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.db.resources import Lock
from fhirserver.headers import check_body_type
from fhirserver.interactions import guard, units
from fhirserver.interactions.drafts import draft_from, parse_body, verify_targets
from fhirserver.outcomes import Category, FhirError, Issue, invalid, not_found, operation_outcome
from fhirserver.responses import fhir, json_bytes
from fhirserver.validation import Body, check_id
from mappings.base import ResourceMapping

MODES = ("create", "update", "delete")
_BASE_PROFILE = "http://hl7.org/fhir/StructureDefinition/"


async def validate_type(ctx: RequestContext, m: ResourceMapping) -> Response:
    return await _validate(ctx, m, None)


async def validate_instance(ctx: RequestContext, m: ResourceMapping, id_: str) -> Response:
    check_id(id_, f"{m.resource_type}.id")
    await guard.check_readable(ctx, m, id_)   # outside the token's reach: 404, as a read says
    return await _validate(ctx, m, id_)


async def _validate(ctx: RequestContext, m: ResourceMapping, id_: str | None) -> Response:
    body, mode, profile = _inputs(ctx, m)
    if mode is not None and mode not in MODES:
        raise invalid(f"mode must be one of {', '.join(MODES)}, not {mode!r}", "OP-PARAM", code="value")
    if mode in ("update", "delete") and id_ is None:
        raise invalid(f"mode {mode} validates against a resource: call [type]/[id]/$validate", "OP-PARAM")
    if mode == "delete" and ctx.access is not None:   # it names what refers to the resource
        ctx.access.require(m.resource_type, "d")
    if profile is not None and profile.split("|")[0] != _BASE_PROFILE + m.resource_type:
        raise FhirError.of(Category.INCORRECT, "not-supported", "OP-PROFILE",
                           f"This server validates against the base R4 {m.resource_type} definition only, "
                           f"not the profile {profile}")
    try:
        if mode == "delete":
            await units.read(ctx, lambda conn: _deletable(conn, ctx, m, id_))
        else:
            if body is None:
                raise invalid("A resource to validate is required (the body, or a 'resource' parameter)",
                              "RES-BODY-EMPTY", code="required")
            _, local = draft_from(body, m, ctx, url_id=id_ if mode == "update" else None)
            if mode is not None and ctx.services.settings.referential_integrity:
                await units.read(ctx, lambda conn: verify_targets(conn, ctx.org_id, local, lock=Lock.NONE))
        issues = [Issue("informational", "All OK", "OP-VALIDATE-OK", severity="information")]
    except FhirError as err:
        if err.category in (Category.UNAUTHENTICATED, Category.FORBIDDEN):
            raise
        issues = err.issues
    return fhir(json_bytes(operation_outcome(issues)), media_type=ctx.media_type, pretty=ctx.pretty)


async def _deletable(conn, ctx: RequestContext, m: ResourceMapping, id_: str) -> None:
    if await resources.locate(conn, m, ctx.org_id, id_, Lock.NONE) is None:
        raise not_found(m.resource_type, id_)
    await resources.check_unreferenced(conn, m, ctx.org_id, id_)   # as a delete refuses it


def _inputs(ctx: RequestContext, m: ResourceMapping) -> tuple[Body | None, str | None, str | None]:
    """The resource, mode and profile: a Parameters body carries them as parameters, any other
    body is the resource itself; `mode` and `profile` may also come in the URL."""
    mode, profile = ctx.param("mode"), ctx.param("profile")
    if not ctx.body.strip():
        return None, mode, profile
    check_body_type(ctx.headers.get("content-type"))
    body = parse_body(ctx)
    if not isinstance(body.value, dict) or body.value.get("resourceType") != "Parameters":
        return body, mode, profile
    resource = None
    for raw, exact in zip(_parameters(body.value), _parameters(body.exact)):
        name = raw.get("name")
        if name == "resource" and isinstance(raw.get("resource"), dict):
            resource = Body(raw["resource"], exact["resource"])
        elif name == "mode":
            mode = raw.get("valueCode", mode)
        elif name == "profile":
            profile = raw.get("valueUri") or raw.get("valueCanonical") or profile
    return resource, mode, profile


def _parameters(parameters: dict) -> list[dict]:
    found = parameters.get("parameter")
    if not isinstance(found, list) or not all(isinstance(p, dict) for p in found):
        raise invalid("Parameters.parameter must be a list of parameters", "OP-PARAM", ("Parameters.parameter",))
    return found
