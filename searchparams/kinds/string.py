"""String parameters, and `phonetic`, which R4 types as a string and which shares their table."""

from __future__ import annotations

from fhirserver.textfold import normalize_text
from searchparams import ast, phonetic
from searchparams.kinds.base import OWN, Cols, IndexKind, Params, Reading, SideTable, prefix_match, unescape

# (param, norm, exact): norm is case- and accent-folded, for prefixes and :contains; for
# `phonetic`, a name part's phonetic key.
TABLE = SideTable("str", (("param", "text"), ("norm", "text"), ("exact", "text")),
                  ("(param, norm) INCLUDE ({key})", "USING gin (norm gin_trgm_ops)"),
                  required=frozenset({"param", "norm", "exact"}), natural=frozenset({"exact"}))

_PARTS = {"HumanName": ("family", "given", "prefix", "suffix", "text"),
          "Address": ("line", "city", "district", "state", "postalCode", "country", "text")}


def _texts(value: object, kind: str, parts) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, dict):
        return []
    texts = []
    for part in parts.get(kind, ()):
        got = value.get(part)
        texts += got if isinstance(got, list) else ([got] if got else [])
    return [t for t in texts if isinstance(t, str)]


class String(IndexKind):
    type = "string"
    side = TABLE
    modifiers = frozenset({"exact", "contains", "missing"})
    sort_columns = ("norm", "norm")

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        return ast.Text(unescape(raw) if modifier == "exact" else normalize_text(unescape(raw)))

    def match(self, prm, v: ast.Text, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        if modifier == "exact":
            return f"{col('exact')} = {p.add(v.value)}"
        if modifier == "contains":
            escaped = v.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"{col('norm')} LIKE {p.add('%' + escaped + '%')}"
        return prefix_match(col("norm"), v.value, p)

    def rows(self, param: str, node: tuple, prm) -> list[tuple]:
        value, kind = node
        return [(param, normalize_text(t), t) for t in _texts(value, kind, _PARTS)]


class Phonetic(String):
    """Rows of (param, phonetic key, the name part) for each key of a HumanName's family and
    given names (searchparams/phonetic.py). A name with no key (only a prefix, say) still
    gets a row, with the empty key no search value has: the element is present, so
    `:missing=true` must not find it."""

    modifiers = frozenset({"missing"})

    def documentation(self) -> str:
        return phonetic.DOCUMENTATION

    def match(self, prm, v: ast.Text, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        key = phonetic.key(v.value)
        return f"{col('norm')} = {p.add(key)}" if key else "false"

    def rows(self, param: str, node: tuple, prm) -> list[tuple]:
        value, kind = node
        if kind != "HumanName" or not isinstance(value, dict):
            return []
        texts = _texts(value, kind, {"HumanName": phonetic.PARTS})
        return [(param, k, text) for text in texts for k in phonetic.keys(text)] or [(param, "", "")]
