"""What a Reference.reference points at, by the rules of R4 references.html.

Relative `Type/id[/_history/vid]` and absolute URLs under our own base are local;
other absolute URLs and urn:uuid/urn:oid are external (the latter resolve only
inside Bundles); `#id` points into `contained`. Conditional references
(`Patient?identifier=..`) are only meaningful inside a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhirserver import spec
from fhirserver.outcomes import Category, FhirError, Issue
from fhirserver.validation import ID_PATTERN


@dataclass(frozen=True, slots=True)
class Local:
    type: str
    id: str


def classify(ref: str, base_url: str) -> Local | str | None:
    """Local(type, id) for a reference to this server; None for external or contained;
    an error message string when the reference is malformed."""
    if ref.startswith("#"):
        return None
    if base_url and ref.startswith(base_url + "/"):
        ref = ref[len(base_url) + 1:]
    elif ref.startswith(("urn:uuid:", "urn:oid:")) or ":" in ref.split("/", 1)[0]:
        return None
    if "?" in ref:
        return "conditional references are only resolved inside a transaction Bundle"
    parts = ref.split("/")
    if len(parts) in (2, 4) and (len(parts) == 2 or parts[2] == "_history"):
        if parts[0] not in spec.resource_types():
            return f"'{parts[0]}' is not an R4 resource type"
        if ID_PATTERN.fullmatch(parts[1]) and (len(parts) == 2 or ID_PATTERN.fullmatch(parts[3])):
            return Local(parts[0], parts[1])
    return "a reference must be Type/id, Type/id/_history/vid, an absolute URL, a urn or #id"


def local_references(found: list[tuple[str, str]], contained_ids: set[str], base_url: str) -> list[
        tuple[str, Local]]:
    """(location, target) of every local reference; raise 400 naming every malformed one."""
    issues, local = [], []
    for where, ref in found:
        if ref.startswith("#") and ref != "#" and ref[1:] not in contained_ids:
            issues.append(Issue("invalid", f"Reference '{ref}' names no contained resource",
                                "RES-REF-CONTAINED", (where,)))
            continue
        target = classify(ref, base_url)
        if isinstance(target, str):
            issues.append(Issue("invalid", f"Bad reference '{ref}': {target}", "RES-REF-FORMAT", (where,)))
        elif target is not None:
            local.append((where, target))
    if issues:
        raise FhirError(Category.INCORRECT, issues)
    return local
