"""Search by each kind of parameter (search.html#token, #string, #date, #reference, #quantity),
on the suite's own data, against the matches the data says each query must find."""

from __future__ import annotations

from conformance.checks import check, expect_ids
from conformance.claims import all_of, requires_chain, requires_param
from conformance.context import Context
from conformance.groups import search_data
from conformance.groups.search_data import DATE_PREFIXES, SYSTEM_A, UCUM, Dataset


def _expect(ctx: Context, resource_type: str, params: list[tuple[str, str]], expected: set[str]) -> None:
    ids, page = ctx.search_ids(resource_type, params)
    query = "&".join(f"{k}={v}" for k, v in params)
    expect_ids(ids, expected, f"{resource_type}?{query}", page)


def _patients(ctx: Context, param: str, value: str, keep) -> None:
    data = search_data.build(ctx)
    _expect(ctx, "Patient", [(param, value(data) if callable(value) else value)], data.patient_ids(keep))


def _register(check_id: str, section: str, claim, title: str, run) -> None:
    check(check_id, section, claim, title)(run)


# --- token: search.html#token ------------------------------------------------------------------
_TOKEN = [
    ("system-code", "identifier", lambda d: f"{SYSTEM_A}|{d.shared_code}",
     lambda d: lambda p: p.identifier == (SYSTEM_A, d.shared_code), None, "[system]|[code] matches that system only"),
    ("code", "identifier", lambda d: d.shared_code,
     lambda d: lambda p: p.identifier[1] == d.shared_code, None, "[code] matches it in any system"),
    ("no-system", "identifier", lambda d: f"|{d.shared_code}",
     lambda d: lambda p: p.identifier == (None, d.shared_code), None, "|[code] matches it without a system"),
    ("not", "identifier:not", lambda d: f"{SYSTEM_A}|{d.shared_code}",
     lambda d: lambda p: p.identifier != (SYSTEM_A, d.shared_code), ":not", ":not matches everything else"),
]
for name, param, value, keep, modifier, title in _TOKEN:
    def _token(ctx: Context, param=param, value=value, keep=keep) -> None:
        data = search_data.build(ctx)
        _expect(ctx, "Patient", [(param, value(data))], data.patient_ids(keep(data)))
    _register(f"search.token.{name}", "search.html#token",
              requires_param("Patient", "identifier", "token", modifier), f"Patient?{param}: {title}", _token)

# --- string: search.html#string -----------------------------------------------------------------
_STRING = [
    ("prefix", "family", "chal", lambda p: p.family.startswith("Chalmers"), None,
     "matches values that start with it, ignoring case"),
    ("accent", "family", "EBERT", lambda p: p.family == "Ébert", None, "ignores case and accents"),
    ("exact", "family:exact", "Chalmers", lambda p: p.family == "Chalmers", ":exact",
     ":exact matches the whole value, case and accents included"),
    ("exact-case", "family:exact", "chalmers", lambda p: False, ":exact", ":exact is case-sensitive"),
    ("contains", "family:contains", "HALM", lambda p: "halm" in p.family.lower(), ":contains",
     ":contains matches anywhere in the value"),
]
for name, param, value, keep, modifier, title in _STRING:
    _register(f"search.string.{name}", "search.html#string", requires_param("Patient", "family", "string", modifier),
              f"Patient?{param}={value}: {title}",
              lambda ctx, param=param, value=value, keep=keep: _patients(ctx, param, value, keep))

# --- date: search.html#date, day precision on Patient.birthDate -----------------------------------
for prefix, matches in DATE_PREFIXES.items():
    def _date(ctx: Context, prefix=prefix, matches=matches) -> None:
        data = search_data.build(ctx)
        pivot = data.pivot_birth()
        _expect(ctx, "Patient", [("birthdate", f"{prefix}{pivot.isoformat()}")],
                data.patient_ids(lambda p: matches(p.birth, pivot)))
    _register(f"search.date.{prefix}", "search.html#prefix", requires_param("Patient", "birthdate", "date"),
              f"Patient?birthdate={prefix}[day] at day precision", _date)


# --- reference: search.html#reference -------------------------------------------------------------
@check("search.reference.literal", "search.html#reference", requires_param("Observation", "subject", "reference"))
def reference_literal(ctx: Context) -> None:
    """Observation?subject=Patient/[id] finds that patient's observations"""
    data = search_data.build(ctx)
    owner = data.patients[0].id
    _expect(ctx, "Observation", [("subject", f"Patient/{owner}")], data.observation_ids(lambda o: o.subject == owner))


@check("search.reference.chain", "search.html#chaining",
       all_of(requires_param("Observation", "subject", "reference"), requires_param("Patient", "name", "string"),
              requires_chain("Observation", "subject")))
def reference_chain(ctx: Context) -> None:
    """Observation?subject:Patient.name=[family] follows the reference"""
    data = search_data.build(ctx)
    owner = next(p for p in data.patients if p.family == "Chalmersson")
    _expect(ctx, "Observation", [("subject:Patient.name", owner.family)],
            data.observation_ids(lambda o: o.subject == owner.id))


# --- quantity: search.html#quantity, values chosen away from the data except for eq -------------------
def _quantity_cases(data: Dataset) -> dict[str, tuple[str, object]]:
    low, mid = sorted(o.kg for o in data.observations)[:2]
    between = (low + mid) / 2
    return {"eq": (f"{mid:g}", lambda kg: kg == mid), "gt": (f"gt{between:g}", lambda kg: kg > between),
            "lt": (f"lt{between:g}", lambda kg: kg < between), "ge": (f"ge{mid:g}", lambda kg: kg >= mid),
            "le": (f"le{mid:g}", lambda kg: kg <= mid)}


for prefix in ("eq", "gt", "lt", "ge", "le"):
    def _quantity(ctx: Context, prefix=prefix) -> None:
        data = search_data.build(ctx)
        number, matches = _quantity_cases(data)[prefix]
        _expect(ctx, "Observation", [("value-quantity", f"{number}|{UCUM}|kg")],
                data.observation_ids(lambda o: matches(o.kg)))
    _register(f"search.quantity.{prefix}", "search.html#quantity",
              requires_param("Observation", "value-quantity", "quantity"),
              f"Observation?value-quantity={prefix}[number]|{UCUM}|kg", _quantity)
