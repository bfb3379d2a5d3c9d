"""The layers hold: every import points down (or sideways within a layer), and no import
cycle exists, counting imports inside functions (a lazy import must not hide a cycle).

    ground        spec data, ids, outcomes, FHIR time, text folding
    search model  the official parameters, their FHIRPath, the kinds of index (how a value
                  is read, stored and matched), the typed search (AST)
    storage       resource <-> table mappings, DDL, connections, tenancy, partitions
    compiler      search URL -> AST -> plan -> SQL -> rows
    server        HTTP, interactions, auth, audit, the CapabilityStatement
    tools         benchmarks and the black-box conformance suite

Importing `a.b.c` runs the packages `a` and `a.b` too, so for the layers those count as
imported: a ground module cannot live in a package whose __init__ loads a higher layer (an
empty __init__ runs nothing and belongs to every layer). For cycles only the modules an
import statement names count: every package's modules run its __init__ first.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("fhirserver", "searchparams", "mappings", "conformance", "bench")

# Most specific prefix wins: "searchparams.catalog" is search model, the rest of searchparams compiler.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ground", ("fhirserver.spec", "fhirserver.ids", "fhirserver.outcomes", "fhirserver.fhirtime",
                "fhirserver.textfold")),
    ("search model", ("searchparams.registry", "searchparams.fhirpath", "searchparams.catalog",
                      "searchparams.index", "searchparams.phonetic", "searchparams.terminology",
                      "searchparams.kinds", "searchparams.ast")),
    ("storage", ("mappings", "fhirserver.db")),
    ("compiler", ("searchparams.parse", "searchparams.plan", "searchparams.sqlgen",
                  "searchparams.execute", "searchparams.confine", "searchparams.partitions", "searchparams.inmemory",
                  "searchparams.cursor", "searchparams.pipeline")),
    ("server", ("fhirserver.app", "fhirserver.auth", "fhirserver.audit", "fhirserver.interactions",
                "fhirserver.auditing", "fhirserver.bootstrap", "fhirserver.bulk", "fhirserver.bulk_run",
                "fhirserver.bundles", "fhirserver.cache", "fhirserver.cli", "fhirserver.context",
                "fhirserver.headers", "fhirserver.metrics", "fhirserver.projection",
                "fhirserver.ratelimit", "fhirserver.references", "fhirserver.responses", "fhirserver.routes",
                "fhirserver.routing", "fhirserver.settings", "fhirserver.tenants", "fhirserver.validation",
                "fhirserver.__main__", "conformance.capability")),
    ("tools", ("bench", "conformance")),
)


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_name(f): f for pkg in PACKAGES for f in (ROOT / pkg).rglob("*.py")}


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules() else base for a in node.names]


@cache
def imports(with_packages: bool = False) -> dict[str, frozenset[str]]:
    """Module -> the project modules it imports, anywhere in its body (and the packages
    those run first, `with_packages`)."""
    graph = {}
    for module, path in modules().items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, path, node):
                    parts = target.split(".")
                    found |= {".".join(parts[:i]) for i in range(1 if with_packages else len(parts), len(parts) + 1)}
        graph[module] = frozenset(t for t in found if t in modules() and t != module)
    return graph


def layer(module: str) -> int:
    if modules()[module].name == "__init__.py" and not imports()[module]:
        return 0
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[0]


def test_every_module_belongs_to_a_layer():
    for module in modules():
        layer(module)


def test_imports_point_down():
    upward = [f"{a} ({LAYERS[layer(a)][0]}) imports {b} ({LAYERS[layer(b)][0]})"
              for a, targets in sorted(imports(with_packages=True).items()) for b in sorted(targets)
              if layer(b) > layer(a)]
    assert upward == []


def _cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    assert _cycles(imports()) == []


def test_the_checks_can_fail():
    """The checker itself: a made-up upward import and a made-up cycle are both caught."""
    graph = {"fhirserver.ids": frozenset({"fhirserver.routes"}), "fhirserver.routes": frozenset({"fhirserver.ids"})}
    assert _cycles(graph) == [["fhirserver.ids", "fhirserver.routes"]]
    assert layer("fhirserver.routes") > layer("fhirserver.ids")
    assert layer("mappings") == layer("mappings.sql")   # its __init__ loads every mapping
    assert layer("searchparams.catalog") < layer("mappings.sql") < layer("searchparams.plan")
