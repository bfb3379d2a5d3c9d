"""The statement that tells which of a record's candidate resources are in a compartment.

$everything takes its candidates from the reference index (every resource that refers to
the patient, from resource_refs); a candidate is a member when it refers to the patient
through one of the compartment's parameters for its type (R4 CompartmentDefinition), which
is the same test a compartment search makes, here on a few known ids probed in their own
months rather than on the whole tenant.
"""

from __future__ import annotations

from datetime import datetime

from mappings.base import ResourceMapping
from searchparams.sqlgen.include import rows_by_id, side_refs
from searchparams.sqlgen.params import Params
from searchparams.sqlgen.select import Compiled


def members(m: ResourceMapping, owner: str, params: list[str], ids: list[str], org_id: int,
            since: datetime | None, with_resource: bool = True) -> Compiled:
    """(id, resource) of those of `ids` that refer to `owner` ("Patient/1") through one of
    `params`, changed at or after `since` when given, in id order (resource NULL unless
    `with_resource`: a count needs only the ids)."""
    p = Params()
    org, target = p.add(org_id), p.add(owner)
    rows, where = rows_by_id(m, "a", ids, org, p)
    bound, side = side_refs(m, params, org, p)
    tests = [f"a.{column} = {target}" for _, column in bound]
    if side:
        tests.append(f"EXISTS (SELECT 1 FROM {m.side_table('ref')} s WHERE {side} AND s.target = {target})")
    changed = f" AND a.last_updated >= {p.add(since)}" if since is not None else ""
    resource = "a.resource" if with_resource else "NULL::text"
    return Compiled(f"SELECT a.id, {resource} FROM {rows} WHERE {where} AND ({' OR '.join(tests)}){changed} "
                    "ORDER BY a.id", tuple(p.values), generic=m.time_partitioned)
