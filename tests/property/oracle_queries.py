"""Searches issued to the server, and their ids held against the oracle's (tests/property/oracle.py).

Searches use `Prefer: handling=strict`: a parameter the server would silently drop must fail
instead. `search_ids` follows `next` links to the last page and collects the ids of the
matches. `check` compares them with the oracle's answer: where R4 itself is ambiguous the
oracle raises `Ambiguous` and that search is not compared (hypothesis statistics count them,
along with the kinds of clause searched and whether they matched none, some or all). For `ap`
on a date, "now" moves while a search runs, so the oracle gives the narrowest and the widest
acceptable answer (clock read before the request and after the last page) and the server's ids
must lie between them. A failure prints the search, both answers and what each clause selects
on each resource.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from hypothesis import event

from tests.property.oracle import Ambiguous, Clause, Context, Has, expected_ids, expected_range, nodes
from tests.property.oracle_params import COMPOSITES, SEARCHED, Tok
from tests.property.oracle_world import World
from tests.property.support import show

STRICT = {"Prefer": "handling=strict"}


async def search_ids(http, w: World, type_name: str, clauses: list[Clause | Has], count: int) -> set[str]:
    params = [c.item() for c in clauses] + [("_count", str(count))]
    r = await http.get(f"/{w.slug}/{type_name}", params=params, headers=STRICT)
    assert r.status_code == 200, f"GET {r.request.url}\n{show(r.content)}"
    ids: list[str] = []
    while True:
        bundle = r.json()
        ids += [e["resource"]["id"] for e in bundle.get("entry", ())
                if e.get("search", {}).get("mode", "match") == "match"]
        nxt = [link["url"] for link in bundle.get("link", ()) if link["relation"] == "next"]
        if not nxt:
            break
        r = await http.get(nxt[0], headers=STRICT)
        assert r.status_code == 200, show(r.content)
    assert len(ids) == len(set(ids)), f"duplicate ids in the result: {ids}"
    return set(ids)


def _kind_name(type_name: str, c: Clause | Has) -> str:
    if isinstance(c, Has):
        return f"has:{c.source}.{c.ref}:{_kind_name(c.source, c.inner)}"
    if c.chain is not None:
        return f"chain:{c.modifier}.{c.chain.item()[0]}"
    if c.code in COMPOSITES:
        return f"composite:{c.code}"
    kind = SEARCHED[type_name].get(c.code)
    return f"{type(kind).__name__}{'/' + kind.kind if isinstance(kind, Tok) else ''}:{c.modifier or ''}"


def _show(r: dict) -> str:
    return json.dumps({k: v for k, v in r.items() if k not in ("meta", "id")}, ensure_ascii=False, default=str)


def _explain(resources: list[dict], clauses: list[Clause | Has], w: World, depth: int = 0) -> str:
    lines = []
    for r in resources:
        lines.append(f"{'    ' * depth}  {r['resourceType']}/{r['id']}: {_show(r)}")
        for c in clauses:
            if isinstance(c, Has):
                me = f"{r['resourceType']}/{r['id']}"
                referring = [x for x in w.stored.of_type(c.source) if me in w.stored.links(x, c.ref, w.base)]
                lines.append(f"{'    ' * depth}      referred to by {len(referring)} {c.source} through {c.ref}:")
                lines.append(_explain(referring, [c.inner], w, depth + 1))
            elif c.code != "_tag":
                lines.append(f"{'    ' * depth}      {c.code} selects {[(n.type, n.value) for n in nodes(r, c.code)]}")
    return "\n".join(line for line in lines if line)


def _uses_ap(clauses: list[Clause | Has]) -> bool:
    """Some value of the clauses (or a composite's part) has the prefix ap."""
    return any(re.search(r"(?:^|[,$])ap[-+.\d]", c.item()[1]) for c in clauses)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


async def check(http, w: World, type_name: str, resources: list[dict], clauses: list[Clause | Has],
                count: int) -> None:
    """The server's ids must be the oracle's; with `ap` on a date, anything between the oracle's
    narrowest and widest answer for the time the search took."""
    earliest = utc_now()
    got = await search_ids(http, w, type_name, clauses, count)
    latest = utc_now()
    try:
        if _uses_ap(clauses):
            narrow, wide = expected_range(resources, clauses, Context(w.base, w.stored), earliest, latest)
        else:
            narrow = wide = expected_ids(resources, clauses, Context(w.base, w.stored))
    except Ambiguous as exc:
        event(f"R4 ambiguous, not compared: {exc}")
        return
    share = "none" if not wide else "all" if len(narrow) == len(resources) else "some"
    for c in clauses[:-1]:
        event(f"{_kind_name(type_name, c)} -> {share}")
    if _uses_ap(clauses[:-1]):
        event(f"with ap -> {share}")
    if narrow != wide:
        event("ap on a date: the clock decides some ids")
    if not narrow <= got <= wide:
        query = "&".join(f"{k}={v}" for k, v in (c.item() for c in clauses)) + f"&_count={count}"
        oracle = f"oracle: {sorted(narrow)}" if narrow == wide else \
            f"oracle: at least {sorted(narrow)}, at most {sorted(wide)}"
        pytest.fail(f"GET /{type_name}?{query}\n"
                    f"{oracle}\nserver: {sorted(got)}\n"
                    f"missing: {sorted(narrow - got)}  extra: {sorted(got - wide)}\n"
                    f"resources:\n{_explain(resources, clauses, w)}")
