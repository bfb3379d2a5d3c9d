"""capabilities (GET [base]/metadata)."""

from __future__ import annotations

from starlette.responses import Response

from conformance.capability import capability_statement
from fhirserver.context import RequestContext
from fhirserver.responses import fhir, json_bytes


async def capabilities(ctx: RequestContext) -> Response:
    from fhirserver.routes import (
        implemented_interactions,  # the route table is the source of truth
    )
    type_level, instance_level = implemented_interactions()
    statement = capability_statement(ctx.base_url, type_level, instance_level,
                                     search_supported="search-type" in type_level)
    return fhir(json_bytes(statement), media_type=ctx.media_type, pretty=ctx.pretty)
