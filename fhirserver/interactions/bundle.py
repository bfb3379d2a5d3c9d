"""batch and transaction (http.html#transaction): POST [base] with a Bundle.

Every entry goes back through the route table, so an entry behaves exactly like the
interaction it names. A batch runs entries independently, each failing alone. A
transaction runs them on one connection in one PostgreSQL transaction, all or nothing:
1. POST entries get their ids first (the match of an ifNoneExist, or a fresh server id),
   conditional PUTs their match, so `urn:uuid:`/`urn:oid:` fullUrls map to Type/id;
2. references to those fullUrls, and conditional references (`Patient?identifier=..`,
   exactly one match), are rewritten in every entry's resource;
3. entries run in R4's order: DELETE, POST, PUT/PATCH, GET (HEAD);
4. references are checked once everything is written, then the transaction commits.
Entries of types this server does not store fail the transaction with 400, or with
`Prefer: handling=lenient` are skipped and reported in their response entries.
"""

from __future__ import annotations

import base64
import dataclasses
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response

from fhirserver import ids
from fhirserver.context import EntryRecord, RequestContext
from fhirserver.db.pools import Route
from fhirserver.db.resources import now
from fhirserver.db.retry import retrying
from fhirserver.db.tenancy import tenant_transaction
from fhirserver.fhirtime import instant_text
from fhirserver.headers import check_body_type
from fhirserver.interactions import conditional, guard
from fhirserver.interactions.drafts import verify_targets
from fhirserver.interactions.units import Unit
from fhirserver.outcomes import Category, FhirError, Issue, invalid, operation_outcome
from fhirserver.responses import error_response, fhir, json_bytes
from fhirserver.routing import authorize
from fhirserver.validation import dumps_exact, loads_exact, parse_json, validate
from mappings import MAPPINGS
from searchparams import pipeline

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclasses.dataclass
class Entry:
    index: int
    method: str
    path: list[str]                      # segments below the tenant base
    query: list[tuple[str, str]]
    resource: dict | None                # the exact JSON tree (decimals verbatim)
    full_url: str | None
    request: dict
    skipped: str | None = None           # why a lenient transaction skips it


def _entry(ctx: RequestContext, i: int, raw: dict) -> Entry:
    request = raw.get("request") or {}
    method, url = request.get("method"), request.get("url")
    if method not in ORDER or not isinstance(url, str):
        raise invalid(f"Bundle.entry[{i}].request needs a method ({', '.join(ORDER)}) and a url",
                      "BUNDLE-REQUEST", (f"Bundle.entry[{i}].request",))
    if url.startswith(ctx.base_url + "/"):
        url = url[len(ctx.base_url) + 1:]
    parts = urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    return Entry(i, method, path, parse_qsl(parts.query, keep_blank_values=True), raw.get("resource"),
                 raw.get("fullUrl"), request)


def _sub_context(ctx: RequestContext, e: Entry, unit: Unit | None, assigned: str | None) -> RequestContext:
    headers = {"content-type": "application/fhir+json"}
    for field, header in (("ifMatch", "if-match"), ("ifNoneExist", "if-none-exist"),
                          ("ifNoneMatch", "if-none-match"), ("ifModifiedSince", "if-modified-since")):
        if isinstance(e.request.get(field), str):
            headers[header] = e.request[field]
    body = b""
    if e.resource is not None:
        body = dumps_exact(e.resource)
        if e.method == "PATCH":   # R4 carries a JSON Patch in a Binary
            headers["content-type"] = e.resource.get("contentType", "")
            body = base64.b64decode(e.resource.get("data", ""))
    method = "GET" if e.method == "HEAD" else e.method
    return dataclasses.replace(ctx, method=method, params=tuple(e.query), headers=Headers(headers), body=body,
                               pretty=False, unit=unit, assigned_id=assigned)


def _entry_response(response: Response, with_outcome: bool) -> dict:
    status = response.status_code
    out: dict = {"status": f"{status} {HTTPStatus(status).phrase}"}
    location = response.headers.get("location") or response.headers.get("content-location")
    if location:
        out["location"] = location
    if "etag" in response.headers:
        out["etag"] = response.headers["etag"]
    entry: dict = {}
    body = bytes(response.body) if response.body else b""
    if "last-modified" in response.headers:   # the HTTP date has seconds; the resource has milliseconds
        meta = orjson.loads(body).get("meta", {}) if body.startswith(b"{") else {}
        out["lastModified"] = meta.get("lastUpdated") or instant_text(
            parsedate_to_datetime(response.headers["last-modified"]))
    if body:
        if body.startswith(b'{"resourceType":"OperationOutcome"'):
            if with_outcome:
                out["outcome"] = orjson.Fragment(body)
        else:
            entry["resource"] = orjson.Fragment(body)
    entry["response"] = out
    return entry


async def _run(ctx: RequestContext, e: Entry, unit: Unit | None, assigned: str | None = None) -> Response:
    sub = _sub_context(ctx, e, unit, assigned)
    effects = ctx.effects
    seen, written = len(effects.seen), len(effects.written)
    effects.query = None
    route, args = None, ()
    try:
        route, args = ctx.services.routes.resolve(sub.method, e.path)
        authorize(sub.access, route, args)
        response = await route.handler(sub, *args)
    except FhirError as err:
        if unit is not None:   # a transaction fails as a whole: its one event says so
            raise
        response = error_response(err)
    effects.entries.append(EntryRecord(route, tuple(args), response.status_code, (seen, len(effects.seen)),
                                       (written, len(effects.written)), effects.query))
    effects.query = None
    return response


def _skip_reason(e: Entry) -> str | None:
    kind = e.path[0] if e.path else None
    if kind is not None and kind not in MAPPINGS and not kind.startswith(("_", "$")):
        return f"{kind} resources are not stored by this server"
    return None


async def process(ctx: RequestContext) -> Response:
    check_body_type(ctx.headers.get("content-type"))
    if not ctx.body.strip():
        raise invalid("POST to the base needs a batch or transaction Bundle", "BUNDLE-EMPTY", code="required")
    body = parse_json(ctx.body)
    validate(body.value, "Bundle")
    kind = body.value.get("type")
    if kind not in ("batch", "transaction"):
        raise invalid(f"Bundle.type must be batch or transaction, not {kind!r}", "BUNDLE-TYPE", ("Bundle.type",))
    ctx.effects.interaction = kind
    exact = loads_exact(ctx.body)
    entries = [_entry(ctx, i, raw) for i, raw in enumerate(exact.get("entry", []))]
    if kind == "batch":
        results = [_entry_response(await _run(ctx, e, None), True) for e in entries]
    else:
        results = await retrying(lambda: _transaction(ctx, entries))
    bundle = {"resourceType": "Bundle", "type": f"{kind}-response"}
    if results:
        bundle["entry"] = results
    return fhir(json_bytes(bundle), media_type=ctx.media_type, pretty=ctx.pretty)


async def _transaction(ctx: RequestContext, entries: list[Entry]) -> list[dict]:
    unsupported = [(e, reason) for e in entries if (reason := _skip_reason(e))]
    if unsupported and ctx.prefer.handling != "lenient":
        raise FhirError(Category.INCORRECT, [
            Issue("not-supported", f"Bundle.entry[{e.index}]: {reason}; send the Bundle with "
                  "Prefer: handling=lenient to skip such entries", "BUNDLE-TYPE-UNSUPPORTED",
                  (f"Bundle.entry[{e.index}]",)) for e, reason in unsupported])
    for e, reason in unsupported:
        e.skipped = reason
    live = [e for e in entries if not e.skipped]
    ctx.effects.entries.clear()   # a retried transaction runs its entries again
    await _ensure_partitions(ctx, live)
    async with tenant_transaction(ctx.services.db, Route.PRIMARY, ctx.org_id,
                                  on_commit=ctx.effects.committed) as conn:
        unit = Unit(conn)
        assigned = await _identities(ctx, live, unit)
        await _rewrite(ctx, live, unit)
        responses: dict[int, Response] = {}
        for e in sorted(live, key=lambda x: (ORDER[x.method], x.index)):
            try:
                responses[e.index] = await _run(ctx, e, unit, assigned.get(e.index))
            except FhirError as err:
                raise _located(err, e) from None
        await verify_targets(conn, ctx.org_id, unit.deferred)
    out = []
    for e in entries:
        if e.skipped:
            out.append({"response": {"status": "422 Unprocessable Entity", "outcome": operation_outcome([Issue(
                "not-supported", f"Skipped: {e.skipped}", "BUNDLE-SKIPPED", severity="warning")])}})
        else:
            out.append(_entry_response(responses[e.index], False))
    return out


async def _ensure_partitions(ctx: RequestContext, entries: list[Entry]) -> None:
    """Month partitions before the transaction opens: one made while it holds the parent stays
    invisible to it (db/retry.py retries the rare case a PATCH moves a resource to a new month)."""
    for e in entries:
        m = MAPPINGS.get(e.path[0]) if e.path and e.resource is not None else None
        if m is not None and m.time_partitioned and e.method in ("POST", "PUT"):
            part_ts = ids.clamp(m.clinical_time(e.resource) or now())
            await ctx.services.partitions.ensure(ctx.services.db.primary.pool, m, ctx.org_id, part_ts)


def _located(err: FhirError, e: Entry) -> FhirError:
    """The failing entry's position, prefixed to each issue: Bundle.entry[3].resource.subject."""
    issues = [dataclasses.replace(i, expression=tuple(f"Bundle.entry[{e.index}].resource.{x.split('.', 1)[-1]}"
                                                      if "." in x else f"Bundle.entry[{e.index}]"
                                                      for x in i.expression) or (f"Bundle.entry[{e.index}]",))
              for i in err.issues]
    return FhirError(err.category, issues, err.headers)


async def _identities(ctx: RequestContext, entries: list[Entry], unit: Unit) -> dict[int, str]:
    """Ids of POST entries (and fullUrl -> Type/id for every creating entry) before anything runs."""
    assigned: dict[int, str] = {}
    unit.full_urls = {}
    for e in entries:
        if e.method not in ("POST", "PUT") or len(e.path) < 1 or e.resource is None:
            continue
        m = MAPPINGS.get(e.path[0])
        if m is None:
            continue
        if e.method == "PUT" and len(e.path) == 2:
            target = e.path[1]
        else:
            criteria = (conditional.header_criteria(e.request["ifNoneExist"]) if e.method == "POST"
                        and isinstance(e.request.get("ifNoneExist"), str) else e.query if e.method == "PUT" else [])
            match = None
            if criteria:
                search = conditional.parse_criteria(m, criteria, f"Bundle.entry[{e.index}].request", ctx.base_url)
                match = await conditional.single_match(unit.conn, ctx, m, search, conditional.lock_key(criteria))
            target = match or (e.resource.get("id") if e.method == "PUT" else None)
            if target is None:
                clinical = m.clinical_time(e.resource) if m.time_partitioned else None
                target = ids.new_id(ids.clamp(clinical or now()))
                assigned[e.index] = target
        if e.full_url:
            unit.full_urls[e.full_url] = f"{m.resource_type}/{target}"
    return assigned


async def _rewrite(ctx: RequestContext, entries: list[Entry], unit: Unit) -> None:
    """Point references at fullUrls and conditional references to Type/id, in place."""
    cache: dict[str, str] = {}

    async def target(ref: str, where: str) -> str:
        if ref in unit.full_urls:
            return unit.full_urls[ref]
        kind, sep, query = ref.partition("?")
        if not sep or kind not in MAPPINGS or "/" in kind:
            return ref
        if ref not in cache:
            m = MAPPINGS[kind]
            items = parse_qsl(query, keep_blank_values=True)
            search = conditional.parse_criteria(m, items, where, ctx.base_url)
            # confined: a resource the caller cannot see cannot be referred to by search
            request = pipeline.SearchRequest(m, ctx.org_id, search=search, policy=guard.policy(ctx, kind, "s"))
            found = await pipeline.matching_ids(unit.conn, request, 2)
            if len(found) != 1:
                category = Category.PRECONDITION if found else Category.INCORRECT
                raise FhirError.of(category, "multiple-matches" if found else "not-found", "BUNDLE-CONDITIONAL-REF",
                                   f"Conditional reference {ref} matches {'several' if found else 'no'} "
                                   f"{kind} resources; it must match exactly one", (where,))
            cache[ref] = f"{kind}/{found[0]}"
        return cache[ref]

    async def walk(node, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    node[key] = await target(value, f"{where}.reference")
                else:
                    await walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                await walk(item, f"{where}[{i}]")

    for e in entries:
        if e.resource is not None and e.method in ("POST", "PUT"):
            await walk(e.resource, f"Bundle.entry[{e.index}].resource")
