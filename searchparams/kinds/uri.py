"""Uri parameters, stored as codes without a system in the token table."""

from __future__ import annotations

from searchparams import ast
from searchparams.kinds import token
from searchparams.kinds.base import OWN, Cols, IndexKind, Params, Reading, prefix_match, unescape


class Uri(IndexKind):
    type = "uri"
    side = token.TABLE
    modifiers = frozenset({"below", "above", "missing"})
    sort_columns = ("code", "code")

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        return ast.Uri(unescape(raw))

    def match(self, prm, v: ast.Uri, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        column = col("code")
        if modifier == "below":
            return prefix_match(column, v.value, p)
        if modifier == "above":   # stored uris that are a path prefix of the search value
            pieces = v.value.split("/")
            prefixes = ["/".join(pieces[:i]) for i in range(1, len(pieces) + 1) if pieces[i - 1]]
            return f"{column} = ANY({p.add(prefixes, 'text[]')})"
        return f"{column} = {p.add(v.value)}"

    def rows(self, param: str, node: tuple, prm) -> list[tuple]:
        return token.token_rows(param, node, prm.code_system)

    component = token.Token.component
