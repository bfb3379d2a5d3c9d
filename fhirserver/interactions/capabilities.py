"""capabilities (GET [base]/metadata).

The statement depends only on the code and the spec data, so its bytes are built once
per base URL and kept in process memory (cheaper than any cache across the network).
"""

from __future__ import annotations

from functools import lru_cache

from starlette.responses import Response

from conformance.capability import capability_statement
from fhirserver.context import RequestContext
from fhirserver.responses import fhir, json_bytes


@lru_cache(maxsize=64)
def _statement(base_url: str) -> bytes:
    from fhirserver.routes import (
        implemented_interactions,  # the route table is the source of truth
    )
    type_level, instance_level = implemented_interactions()
    return json_bytes(capability_statement(base_url, type_level, instance_level,
                                           search_supported="search-type" in type_level))


async def capabilities(ctx: RequestContext) -> Response:
    return fhir(_statement(ctx.base_url), media_type=ctx.media_type, pretty=ctx.pretty)
