"""The `phonetic` parameter's keys, index rows and SQL (searchparams/phonetic.py)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from mappings import MAPPINGS
from searchparams import phonetic
from searchparams.index import index_rows
from searchparams.parse import parse
from searchparams.plan import PageSpec, plan_page
from searchparams.sqlgen.select import compile_page


def test_alike_spellings_share_a_key_and_others_do_not():
    for a, b in (("Smith", "Smyth"), ("Catherine", "Kathryn"), ("Jeffrey", "Geoffrey"), ("Ñandú", "nandu"),
                 ("Ann", "ANNE"), ("Philips", "Phillips")):
        assert phonetic.key(a) == phonetic.key(b), (a, b)
    for a, b in (("Smith", "Smart"), ("Jones", "James"), ("Williams", "Wilson")):
        assert phonetic.key(a) != phonetic.key(b), (a, b)
    assert phonetic.key("123") is None and phonetic.key("") is None


def test_a_name_part_is_keyed_whole_and_word_by_word():
    assert phonetic.keys("Smith-Jones") == {phonetic.key("Smith"), phonetic.key("Jones"), phonetic.key("SmithJones")}


def test_index_rows_cover_family_and_given_only_and_mark_a_keyless_name():
    rows = index_rows({"resourceType": "Patient", "name": [
        {"family": "Smyth", "given": ["Kathryn"], "prefix": ["Dr"], "text": "Dr Kathryn Smyth"},
        {"prefix": ["Mme"]}]})["str"]
    keys = {key for param, key, _ in rows if param == "phonetic"}
    assert keys == {phonetic.key("Smith"), phonetic.key("Catherine"), ""}   # "": the keyless second name
    assert phonetic.key("Dr") not in keys


def test_a_value_compiles_to_its_key_and_a_keyless_value_to_nothing():
    m = MAPPINGS["Patient"]
    def page_sql(query: str):
        search = parse("Patient", parse_qsl(query), strict=True)
        return compile_page(m, search, plan_page(m, search, PageSpec(1, 10)))
    q = page_sql("phonetic=Smithe")
    assert phonetic.key("Smithe") in q.params and "Smithe" not in q.params
    none = page_sql("phonetic=42")
    assert "false" in none.sql
