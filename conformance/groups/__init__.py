"""The groups of checks, in the order they run, and within a group the modules in the order of
MODULES. Search runs before the groups that leave more Patients behind, because its first checks
(values, paging) count every resource of the run that matches; its later modules (include,
modifiers, results) narrow to data they create themselves, so they must come after."""

from conformance.checks import REGISTRY
from conformance.groups import (
    bundles,
    capabilities,
    errors,
    history,
    patch,
    rest,
    rest_formats,
    search_include,
    search_modifiers,
    search_paging,
    search_results,
    search_values,
    uscore,
)

GROUPS = ("capabilities", "search", "rest", "history", "patch", "errors", "bundles", "uscore")
MODULES = (capabilities, search_values, search_paging, search_include, search_modifiers, search_results, rest,
           rest_formats, history, patch, errors, bundles, uscore)

# Imports run alphabetically; the registry (which the runner orders by group only) follows MODULES.
# A group that is a package (uscore) defines its checks in its own modules.
_ORDER = [m.__name__ for m in MODULES]
REGISTRY.sort(key=lambda c: next(i for i, name in enumerate(_ORDER)
                                 if c.run.__module__ == name or c.run.__module__.startswith(name + ".")))
