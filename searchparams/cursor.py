"""Page cursors: the opaque `_cursor` token of a searchset's next and previous links.

A token is base64url JSON (`encode_token`; history pages use the same wrapping for their
own values). A search's token holds the sort-key values of the row the page follows, then
that row's id, or {"before": keys} for the page that ends just before that row. Key values
JSON cannot tell apart (timestamps, dates, numerics) are tagged, so decoded keys have their
SQL types again. A token of another search's shape is refused (PAGE-CURSOR): its values
would be compared with the wrong columns.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import orjson

from fhirserver.outcomes import FhirError, invalid
from mappings.base import ResourceMapping
from searchparams import ast, catalog
from searchparams.plan import walks_months


def _refused() -> FhirError:
    return invalid("The paging cursor is not one this server issued", "PAGE-CURSOR")


def encode_token(value: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode_token(token: str) -> object:
    """The value of a token `encode_token` made; a 400 (PAGE-CURSOR) for anything else."""
    try:
        return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise _refused() from None


def _encode_key(value: object) -> object:
    if isinstance(value, datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


def _decode_key(value: object) -> object:
    if isinstance(value, dict) and len(value) == 1:
        (kind, text), = value.items()
        try:
            return {"ts": datetime.fromisoformat, "d": date.fromisoformat, "n": Decimal}[kind](text)
        except (KeyError, ValueError, ArithmeticError):
            raise _refused() from None
    return value


@dataclass(frozen=True, slots=True)
class Position:
    """Where a requested page starts: after the row whose sort keys (then id) are `keys`,
    or, `backward`, just before it."""

    keys: tuple          # decoded: the values the keyset predicate compares with
    written: list        # as the token held them: an empty page's previous link repeats them
    backward: bool


def _fits(m: ResourceMapping, search: ast.Search, keys: tuple) -> bool:
    """Whether decoded keys have the shape of this search's sort keys (then id): their number
    and each one's type, so that a forged token is a 400 and never reaches SQL as a value of
    the wrong type."""
    if walks_months(m, search):
        return len(keys) == 2 and isinstance(keys[0], datetime) and isinstance(keys[1], str)
    if len(keys) != len(search.sort) + 1 or not isinstance(keys[-1], str):
        return False
    return all(value is None or (isinstance(value, _key_types(m, key.code)) and not isinstance(value, bool))
               for key, value in zip(search.sort, keys))


_DATES, _NUMBERS, _TEXT = (datetime, date), (Decimal, int), (str,)


def _key_types(m: ResourceMapping, code: str) -> tuple[type, ...]:
    """The Python types a sort key's values decode to, by the parameter's type."""
    if code == "_lastUpdated":
        return _DATES
    param = catalog.supported(m.resource_type).get(code)
    kind = param.type if param is not None else "string"
    return _DATES if kind == "date" else _NUMBERS if kind in ("number", "quantity") else _TEXT


def position(m: ResourceMapping, search: ast.Search) -> Position | None:
    """The position `search.cursor` names (None: the first page); a 400 (PAGE-CURSOR) for a
    token this server did not issue or issued for a search of another shape."""
    if search.cursor is None:
        return None
    value = decode_token(search.cursor)
    backward = isinstance(value, dict) and set(value) == {"before"}
    if backward:
        value = value["before"]
    if not isinstance(value, list):
        raise _refused()
    keys = tuple(_decode_key(k) for k in value)
    if not _fits(m, search, keys):
        raise _refused()
    return Position(keys, value, backward)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of matches, (id, resource JSON) in sort order, and the tokens of the pages
    next to it (None where there is none)."""

    rows: list[tuple[str, str]]
    next: str | None = None
    previous: str | None = None


def page(fetched: list, at: Position | None, count: int, sort_width: int) -> Page:
    """The page in `fetched`: rows (id, resource, k1.., kn) read in the direction of `at`,
    at most `count` of them plus one look-ahead row that tells whether more follow."""
    more = len(fetched) > count
    rows = fetched[:count]

    def keys(row) -> list:
        return [_encode_key(row[2 + i]) for i in range(sort_width)] + [row[0]]
    if at is not None and at.backward:
        rows.reverse()
        after = keys(rows[-1]) if rows else None
        before = keys(rows[0]) if more and rows else None
    else:
        after = keys(rows[-1]) if more and rows else None
        before = (keys(rows[0]) if rows else at.written) if at is not None else None
    return Page([(r[0], r[1]) for r in rows], encode_token(after) if after is not None else None,
                encode_token({"before": before}) if before is not None else None)


def version_below(token: str) -> int:
    """An instance history page's position: the version its page ends above."""
    value = decode_token(token)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _refused()
    return value


def system_history_after(token: str) -> tuple[datetime, str, str, int]:
    """A system history page's position: (lastUpdated, type, id, version) of the entry it follows."""
    value = decode_token(token)
    if not (isinstance(value, list) and len(value) == 4 and isinstance(value[1], str)):
        raise _refused()
    at, id_, version = history_after(encode_token([value[0], value[2], value[3]]))
    return at, value[1], id_, version


def history_after(token: str) -> tuple[datetime, str, int]:
    """A type history page's position: (lastUpdated, id, version) of the entry it follows."""
    value = decode_token(token)
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], str)
            and isinstance(value[2], int) and not isinstance(value[2], bool)):
        raise _refused()
    try:
        at = datetime.fromisoformat(value[0])
    except ValueError:
        raise _refused() from None
    if at.tzinfo is None:
        raise _refused()
    return at, value[1], value[2]
