"""The groups of checks, in the order they run. Search runs before the groups that leave more
Patients behind, because its checks count every resource of the run that matches."""

from conformance.groups import bundles, capabilities, errors, rest, rest_formats, search_paging, search_values

GROUPS = ("capabilities", "search", "rest", "errors", "bundles")
MODULES = (capabilities, search_values, search_paging, rest, rest_formats, errors, bundles)
