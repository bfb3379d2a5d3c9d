"""POST [base]/$import: the bulk loader's path for an ndjson request body.

Synchronous, for moderate volumes; `fhirserver load` is the tool for big files. Answers
an OperationOutcome with the counts, and one issue per rejected line (line number, and
what was wrong), so nothing is dropped silently.
"""

from __future__ import annotations

import io

import orjson
from starlette.responses import Response

from fhirserver.bulk import Writer, lines_of, load_lines
from fhirserver.context import RequestContext
from fhirserver.headers import check_body_type
from fhirserver.outcomes import Issue, operation_outcome
from fhirserver.responses import fhir, json_bytes

NDJSON = frozenset({"application/fhir+ndjson", "application/x-ndjson", "application/ndjson"})
MAX_LISTED = 100


async def bulk_import(ctx: RequestContext) -> Response:
    check_body_type(ctx.headers.get("content-type"), NDJSON)
    rejects = io.BytesIO()
    pool = ctx.services.db.primary.pool
    async with pool.acquire() as conn:
        conn.bind_tenant(None)
        await conn.execute("RESET ROLE")   # COPY runs as the owner (RLS does not allow COPY FROM)
        writer = Writer(conn, ctx.org_id, ctx.services.partitions, pool)
        stats = await load_lines(writer, lines_of(ctx.body), ctx.base_url, rejects)
        await ctx.effects.committed(conn)   # a consistency token for reading the import back
    issues = [Issue("informational", f"loaded {stats.loaded}, already present {stats.present}, "
                    f"rejected {stats.rejected}", "IMPORT-DONE", severity="information")]
    for raw in rejects.getvalue().splitlines()[:MAX_LISTED]:
        record = orjson.loads(raw)
        first = record["outcome"]["issue"][0]
        issues.append(Issue(first["code"], f"line {record['line']}: {first['diagnostics']}", "IMPORT-REJECTED",
                            tuple(first.get("expression", ()))))
    return fhir(json_bytes(operation_outcome(issues)), media_type=ctx.media_type, pretty=ctx.pretty)
